/** `mtasts init DOMAIN`: propose a policy from the domain's MX records. See docs/cli.md. */
import { parseArgs } from 'node:util';
import { parseDomainArgument } from '../dns/name.js';
import { DnsClient, DnsLookupError } from '../dns/resolver.js';
import { finding, type Finding } from '../findings.js';
import { formatZone, proposePolicy, publishRecords } from '../publish/records.js';
import { parseDnsServer } from './check.js';
import { formatFinding, Painter } from './format.js';
import { positiveNumber, usage, UsageError, type Io } from './io.js';

export async function runInit(args: string[], io: Io): Promise<number> {
  const { values, positionals } = usage(() => parseArgs({
    args,
    options: {
      json: { type: 'boolean' },
      dns: { type: 'string', multiple: true },
      timeout: { type: 'string' },
      tlsrpt: { type: 'string', multiple: true },
    },
    allowPositionals: true,
    strict: true,
  }));
  if (positionals.length !== 1) throw new UsageError('init needs exactly one DOMAIN');
  const parsed = parseDomainArgument(positionals[0] ?? '');
  if (!parsed.ok) throw new UsageError(`init: ${parsed.error}`);
  const domain = parsed.domain;
  const timeoutMs = positiveNumber('--timeout', values.timeout, 10) * 1000;
  const dns = new DnsClient({ ...(values.dns ? { servers: values.dns.map(parseDnsServer) } : {}), timeoutMs });

  const fail = (f: Finding): number => {
    if (values.json) io.out(JSON.stringify({ domain, policy: null, findings: [f] }));
    else io.err(formatFinding(f, Painter.for(io.stderr), 'mtasts: '));
    return 1;
  };
  let mx;
  try {
    mx = await dns.mx(domain);
  } catch (err) {
    if (err instanceof DnsLookupError && err.isNegativeAnswer) {
      return fail(finding('mx-none', `${domain} has no MX records (${err.kind}); there is nothing for a policy to protect`));
    }
    return fail(finding('mx-lookup-failed', `MX lookup for ${domain} failed: ${(err as Error).message}`));
  }
  const hosts = mx.map((r) => r.exchange).filter((h) => h !== '' && h !== '.');
  if (hosts.length === 0) {
    return fail(finding('mx-null', `${domain} publishes a null MX (RFC 7505): it receives no mail, so it needs no MTA-STS policy`));
  }

  const policy = proposePolicy(hosts);
  // RFC 8461 §5: testing mode exists to collect TLS-RPT reports, so propose a report address.
  const tlsrpt = values.tlsrpt ?? [`mailto:tlsrpt@${domain}`];
  let records;
  try {
    records = publishRecords({ domain, policy, tlsrpt });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const config = [
    'domains:',
    `  ${domain}: { mode: ${policy.mode}, mx: [${policy.mx.map((m) => (m.startsWith('*') ? `"${m}"` : m)).join(', ')}], max_age: ${policy.maxAge} }`,
  ].join('\n');

  if (values.json) {
    io.out(JSON.stringify({
      domain, mx, policy, policyText: records.policyText, id: records.id,
      records: records.records.map(({ name, type, ttl, data, text }) => ({ name, type, ttl, data, ...(text !== undefined ? { text } : {}) })),
      config,
    }));
    return 0;
  }
  const p = Painter.for(io.stdout);
  io.out(p.paint('bold', `MX records of ${domain}:`));
  for (const r of mx) io.out(`  ${r.preference} ${r.exchange}`);
  io.out('');
  io.out(p.paint('bold', `Proposed policy (serve it at https://mta-sts.${domain}/.well-known/mta-sts.txt):`));
  io.out(records.policyText.replace(/\r\n/g, '\n').trimEnd());
  io.out('');
  io.out(p.paint('bold', 'DNS records to publish:'));
  io.out(formatZone([records]).trimEnd());
  io.out('');
  io.out(p.paint('bold', 'For `mtasts serve` (configuration):'));
  io.out(config);
  io.out('');
  io.out('Start in testing mode, read the TLS-RPT reports, then switch to `mode: enforce` (and run `mtasts records` again: the id changes with the policy).');
  return 0;
}
