/**
 * `mtasts resolve DOMAIN`: the policy a sending MTA would apply to DOMAIN and why, the decision for
 * each MX host (deliver, defer, deliver and report), and the reply `mtasts resolver` gives Postfix.
 */
import { parseArgs } from 'node:util';
import { DnsClient } from '../dns/resolver.js';
import { parseDomainArgument } from '../dns/name.js';
import { evaluate, tlsResultFromProbe, type Decision } from '../resolver/evaluate.js';
import { DEFAULT_ZONE, renderReply } from '../resolver/postfix.js';
import { PolicyResolver } from '../resolver/resolver.js';
import { probeMx } from '../smtp/probe.js';
import { parseDnsServer, parsePort, readTrust } from './check.js';
import { positiveNumber, usage, UsageError, type Io } from './io.js';

export async function runResolve(args: string[], io: Io): Promise<number> {
  const { values, positionals } = usage(() => parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      json: { type: 'boolean' },
      dns: { type: 'string', multiple: true },
      'ca-file': { type: 'string', multiple: true },
      trust: { type: 'string' },
      timeout: { type: 'string' },
      'https-port': { type: 'string' },
      'smtp-port': { type: 'string' },
      'no-smtp': { type: 'boolean' },
      'strict-testing': { type: 'boolean' },
    },
  }));
  if (positionals.length !== 1) throw new UsageError('resolve needs exactly one DOMAIN');
  const parsed = parseDomainArgument(positionals[0]!);
  if (!parsed.ok) throw new UsageError(parsed.error);
  const domain = parsed.domain;
  const timeoutMs = positiveNumber('--timeout', values.timeout, 10) * 1000;
  const servers = values.dns?.map(parseDnsServer);
  const dns = new DnsClient({ timeoutMs, ...(servers ? { servers } : {}) });
  const trust = readTrust(values.trust, values['ca-file']);
  const httpsPort = parsePort('--https-port', values['https-port']);
  const smtpPort = parsePort('--smtp-port', values['smtp-port']);
  const resolver = new PolicyResolver({ dns, timeoutMs, refresh: false, fetch: { ...(httpsPort ? { port: httpsPort } : {}), trust } });
  // The MX lookup does not depend on the policy: both start at once.
  const mxTask = dns.mx(domain).then((mx) => mx.map((m) => m.exchange).filter((h) => h !== '' && h !== '.'), () => null);
  const [res, mxHosts] = await Promise.all([resolver.resolve(domain), mxTask]);

  const decisions: { host: string; decision: Decision }[] = [];
  if (!values['no-smtp'] && mxHosts) {
    const probes = await Promise.all(mxHosts.map((host) => probeMx(host, { dns, timeoutMs, ...(smtpPort ? { port: smtpPort } : {}), trust })));
    mxHosts.forEach((host, i) => decisions.push({ host, decision: evaluate(res.policy, host, tlsResultFromProbe(probes[i]!)) }));
  }
  // Certificate problems name the trust store they were judged against.
  const certProblems = res.findings.filter((f) => f.severity === 'error' && f.code.startsWith('policy-cert-'));
  const reply = renderReply(res, { ...DEFAULT_ZONE, strictTesting: values['strict-testing'] ?? false }, mxHosts);

  if (values.json) {
    io.out(JSON.stringify({
      domain, reason: res.reason, reasons: res.reasons,
      policy: res.policy ? { id: res.policy.id, mode: res.policy.policy.mode, mx: res.policy.policy.mx, maxAge: res.policy.policy.maxAge, expiresAt: new Date(res.policy.expiresAt).toISOString(), text: res.policy.text } : null,
      mx: mxHosts, decisions, postfix: reply.text, findings: res.findings,
      trust: { mode: trust.mode, store: trust.description },
    }));
  } else {
    io.out(`${domain}: ${res.policy ? `policy id ${res.policy.id}, mode ${res.policy.policy.mode}` : 'no MTA-STS policy applies'} (${res.reason})`);
    for (const r of res.reasons) io.out(`  - ${r}`);
    for (const f of certProblems) io.out(`  - ${f.code}: ${f.message}`);
    if (res.policy) io.out(`  mx patterns: ${res.policy.policy.mx.join(', ') || '(none)'}; max_age ${res.policy.policy.maxAge}`);
    for (const { host, decision } of decisions) {
      io.out(`MX ${host}: ${decision.action}${decision.failure ? ` (${decision.failure})` : ''}`);
      for (const r of decision.reasons) io.out(`  - ${r}`);
    }
    if (!mxHosts) io.out('MX lookup failed');
    io.out(`postfix socketmap reply: ${reply.text}`);
  }
  return decisions.some((d) => d.decision.action === 'defer') ? 1 : 0;
}
