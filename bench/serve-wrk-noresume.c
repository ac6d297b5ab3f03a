/*
 * LD_PRELOAD shim for wrk, used by bench/serve-vs-nginx.ts for the "close" mode.
 *
 * wrk reconnects with SSL_shutdown + SSL_clear on the same SSL object, and SSL_clear keeps the
 * session, so every reconnection after the first resumes the TLS session (a TLS 1.3 PSK handshake
 * without certificate or signature). MTA-STS senders fetch a policy once per cache period, so a
 * server mostly sees full handshakes. This shim drops the session before SSL_clear, so every
 * connection makes a full handshake. Nothing else changes.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>

typedef struct ssl_st SSL;
typedef struct ssl_session_st SSL_SESSION;
int SSL_set_session(SSL *s, SSL_SESSION *session);

int SSL_clear(SSL *s) {
    static int (*real_clear)(SSL *) = NULL;
    if (real_clear == NULL) real_clear = (int (*)(SSL *))dlsym(RTLD_NEXT, "SSL_clear");
    SSL_set_session(s, NULL);
    return real_clear(s);
}
