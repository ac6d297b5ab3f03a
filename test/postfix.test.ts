/**
 * End-to-end with a real Postfix delivering through `mtasts resolver` — NOT IMPLEMENTED YET.
 *
 * The session that built the resolver ran out of its timebox before writing this test. It is left
 * skipped, with the plan, so that nobody mistakes it for coverage:
 *
 * - start the test world, plus a second world DNS server on <loopback>:53 sharing its zone (glibc's
 *   resolver cannot use another port), and an SMTP server variant that accepts DATA (an additive
 *   `acceptMail` option in src/testworld/smtp-server.ts) on its own port, with certificates from
 *   the world CA (valid for mx1.good.test, wrong-name for mx1.bad.test);
 * - start `mtasts resolver` on an ephemeral port (config as in test/resolver-server.test.ts);
 * - write a Postfix config directory under a temp dir: queue_directory/data_directory there,
 *   inet_interfaces = loopback-only, a non-standard smtpd port, smtp(8) chrooted so that it reads
 *   `$queue_directory/etc/resolv.conf` pointing at the port-53 server, `smtp_tls_CAfile` = world
 *   CA, `smtp_tls_policy_maps = socketmap:inet:127.0.0.1:PORT:postfix`, and
 *   `transport_maps = inline:{good.test=smtp:good.test:SMTPPORT, bad.test=smtp:bad.test:SMTPPORT}`
 *   (no brackets: Postfix still looks up the MX, and the policy key `good.test:SMTPPORT` is looked
 *   up as `good.test` — see domainFromKey);
 * - `postfix -c DIR start`, `sendmail -C DIR` one message to each domain, then poll `postqueue -c
 *   DIR -j`: the mail to good.test is delivered (received by the accepting server), the mail to
 *   bad.test stays deferred with a certificate verification reason; `postfix -c DIR stop`.
 *
 * Requirements: Debian package `postfix` (and root, for port 53). The test must skip when postfix
 * is missing, except under CI=true.
 */
import { test } from 'node:test';

test('Postfix delivers to an enforce domain with a correct MX certificate and defers a wrong one', { skip: 'not implemented within the timebox; see the plan at the top of test/postfix.test.ts' }, () => {});
