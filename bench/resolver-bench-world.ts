/**
 * The world both resolver benches use: `count` healthy enforce domains with one MX each, DNS on
 * `dnsAddr:53` and the policy hosts on `httpsAddr:443` (ports the peer daemon cannot change), with
 * per-host certificates from a CA minted for the run, issued before timing.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createTestCA, startDnsServer, startHttpsServer, Zone, type DnsServer, type HttpsServer } from '../src/testworld/index.js';
import { policyText } from '../src/testworld/world.js';

export interface ResolverBenchWorld {
  /** A temporary directory for configs and files of this run. */
  base: string;
  caFile: string;
  dns: DnsServer;
  https: HttpsServer;
}

export async function startResolverBenchWorld(opts: {
  count: number;
  name: (i: number) => string;
  dnsAddr: string;
  httpsAddr: string;
  id?: (i: number) => string;
}): Promise<ResolverBenchWorld> {
  const base = await mkdtemp(path.join(tmpdir(), 'mtasts-rbench-'));
  const ca = await createTestCA();
  const caFile = path.join(base, 'ca.pem');
  await writeFile(caFile, ca.certPem);
  const zone = new Zone();
  const defaultCert = await ca.issue({ names: ['default.invalid'] });
  const https = await startHttpsServer({ defaultCert: { certPem: defaultCert.chainPem, keyPem: defaultCert.keyPem }, address: opts.httpsAddr, port: 443 });
  const dns = await startDnsServer({ zone, address: opts.dnsAddr, port: 53 });
  for (let i = 0; i < opts.count; i++) {
    const d = opts.name(i);
    zone.set(d, [{ type: 'MX', preference: 10, exchange: `mx1.${d}` }]);
    zone.set(`mx1.${d}`, [{ type: 'A', address: '127.0.0.1' }]);
    zone.set(`mta-sts.${d}`, [{ type: 'A', address: opts.httpsAddr }]);
    zone.set(`_mta-sts.${d}`, [{ type: 'TXT', data: [`v=STSv1; id=${opts.id?.(i) ?? `bench${i}`}`] }]);
    https.setBehaviour(`mta-sts.${d}`, { kind: 'policy', body: policyText({ mx: [`mx1.${d}`] }) });
    const c = await ca.issue({ names: [`mta-sts.${d}`] });
    https.setCertificate(`mta-sts.${d}`, { certPem: c.chainPem, keyPem: c.keyPem });
  }
  return { base, caFile, dns, https };
}
