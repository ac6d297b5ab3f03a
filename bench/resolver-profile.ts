/**
 * Profiling aid for `mtasts resolver` (not a comparison): a local world of N domains, our server
 * from dist/ (`bin/mtasts.js resolver`, run `npm run build` first) optionally under `--cpu-prof`,
 * then cold (every domain once over --conns connections) and warm (--warm-seconds of random cached
 * domains) phases, with the CPU time of the server process and of this process (world + load
 * generator) per lookup, so one can tell which side is the bottleneck.
 *
 *   node --import tsx bench/resolver-profile.ts [--domains 1000] [--conns 100] [--warm-seconds 5]
 *        [--prof-dir DIR] [--internal] [--top 25]
 *
 * Needs root (port 53/443 on 127.85.0.x; distinct from the comparison bench's 127.84.0.x).
 */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { encodeNetstring, NetstringDecoder } from '../src/resolver/netstring.js';
import { startResolverBenchWorld } from './resolver-bench-world.js';

const { values: args } = parseArgs({
  options: {
    domains: { type: 'string', default: '1000' },
    conns: { type: 'string', default: '100' },
    'warm-seconds': { type: 'string', default: '5' },
    'prof-dir': { type: 'string' },
    internal: { type: 'boolean', default: false },
    top: { type: 'string', default: '25' },
  },
});
const N = Number(args.domains);
const CONNS = Number(args.conns);
const WARM_MS = Number(args['warm-seconds']) * 1000;
const DNS_ADDR = '127.85.0.53';
const HTTPS_ADDR = '127.85.0.1';
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dn = (i: number): string => `d${i}.rp.test`;

function cpuMsOf(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * 10; // utime + stime, clock ticks of 10 ms
}
const selfCpuMs = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };

async function load(port: number, conns: number, next: () => string | undefined): Promise<{ n: number; bad: number; ms: number }> {
  let n = 0;
  let bad = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: conns }, () => new Promise<void>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.setNoDelay(true);
    const dec = new NetstringDecoder(200_000);
    const send = (): void => {
      const k = next();
      if (k === undefined) { s.end(); resolve(); return; }
      s.write(encodeNetstring(`postfix ${k}`));
    };
    s.on('connect', send);
    s.on('data', (c: Buffer) => {
      for (const r of dec.push(c)) {
        n++;
        if (!r.toString('latin1').startsWith('OK secure match=')) bad++;
        send();
      }
    });
    s.on('error', () => resolve());
  })));
  return { n, bad, ms: performance.now() - t0 };
}

const { base, caFile, dns, https } = await startResolverBenchWorld({ count: N, name: dn, dnsAddr: DNS_ADDR, httpsAddr: HTTPS_ADDR, id: (i) => `p${i}` });
const port = await new Promise<number>((r) => { const s = net.createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => r(p)); }); });
const cfg = path.join(base, 'mtasts.yml');
await writeFile(cfg, `host: 127.0.0.1
port: ${port}
cache_grace: 3600
cache:
${args.internal ? '  type: internal' : `  type: sqlite
  options:
    filename: ${path.join(base, 'policies.sqlite')}`}
proactive_policy_fetching:
  enabled: false
dns_servers: ["${DNS_ADDR}:53"]
ca_file: ${caFile}
https_port: 443
log_level: error
`);
const profDir = args['prof-dir'] ? path.resolve(args['prof-dir']) : undefined;
const proc = spawn(process.execPath, [...(profDir ? ['--cpu-prof', '--cpu-prof-dir', profDir] : []), path.join(root, 'bin/mtasts.js'), 'resolver', '--config', cfg], { stdio: ['ignore', 'ignore', 'inherit'] });
for (;;) {
  const ok = await new Promise<boolean>((r) => { const s = net.connect(port, '127.0.0.1'); s.once('connect', () => { s.destroy(); r(true); }); s.once('error', () => r(false)); });
  if (ok) break;
  await new Promise((r) => setTimeout(r, 100));
}
const phase = async (name: string, next: () => string | undefined): Promise<void> => {
  const s0 = cpuMsOf(proc.pid!);
  const c0 = selfCpuMs();
  const r = await load(port, CONNS, next);
  const s = cpuMsOf(proc.pid!) - s0;
  const c = selfCpuMs() - c0;
  console.log(`${name}: ${r.n} lookups (${r.bad} not OK) in ${r.ms.toFixed(0)} ms = ${(r.n / r.ms * 1000).toFixed(0)}/s; server CPU ${(s / r.n * 1000).toFixed(1)} µs/lookup (${(s / r.ms * 100).toFixed(0)} %), this process (world + client) ${(c / r.n * 1000).toFixed(1)} µs/lookup (${(c / r.ms * 100).toFixed(0)} %)`);
};
let i = 0;
await phase('cold', () => (i < N ? dn(i++) : undefined));
let x = 12345;
const end = performance.now() + WARM_MS;
await phase('warm', () => {
  if (performance.now() >= end) return undefined;
  x = (x * 1103515245 + 12345) & 0x7fffffff;
  return dn(x % N);
});
const exited = new Promise((r) => proc.once('exit', r));
proc.kill('SIGTERM');
await exited;
await dns.close();
await https.close();
await rm(base, { recursive: true, force: true });

if (profDir) {
  // Self time per function from the newest profile.
  const f = readdirSync(profDir).filter((n) => n.endsWith('.cpuprofile')).sort().at(-1)!;
  const prof = JSON.parse(readFileSync(path.join(profDir, f), 'utf8')) as {
    nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
    samples: number[]; timeDeltas: number[];
  };
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  prof.samples.forEach((id, k) => {
    const n = byId.get(id)!;
    const dt = prof.timeDeltas[k] ?? 0;
    total += dt;
    const key = `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.replace(/^.*\/(node_modules|dist|src)\//, '$1/')}:${n.callFrame.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + dt);
  });
  const idle = [...self].filter(([k]) => k.startsWith('(idle)')).reduce((a, [, v]) => a + v, 0);
  console.log(`\nprofile ${f}: ${(total / 1000).toFixed(0)} ms sampled, ${(idle / 1000).toFixed(0)} ms idle; top self time (share of non-idle):`);
  for (const [k, v] of [...self].filter(([k]) => !k.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, Number(args.top))) {
    console.log(`${(v / 1000).toFixed(0).padStart(7)} ms ${(v / (total - idle) * 100).toFixed(1).padStart(5)} %  ${k}`);
  }
}
