/**
 * `mtasts serve` against nginx (Debian package) serving the same MTA-STS policies with the same
 * certificates for `--hosts` host names, loaded by `wrk` (Debian package), on this machine in the
 * same run:
 *
 *   (a)  `close`: a new TLS connection with a full handshake per request (`Connection: close`), which
 *        is how senders fetch (once per policy lifetime, no session to resume). wrk itself resumes the
 *        TLS session when it reconnects, so this mode preloads bench/serve-wrk-noresume.c into wrk
 *        (compiled at start with `cc`), which drops the session before each reconnection;
 *   (a') `resumed`: `Connection: close` with wrk as shipped: every connection after a wrk connection's
 *        first one is a TLS 1.3 resumption (PSK + ECDHE, no certificate, no signature);
 *   (b)  `keepalive`: requests on kept-alive connections.
 *
 * Setup (all in a temporary directory, removed on exit unless --keep):
 * - a CA minted for the run and one ECDSA P-256 certificate per host `mta-sts.d<i>.bench.test`
 *   (src/testworld/ca.ts), written as certs/<host>.crt + certs/<host>.key, the layout of
 *   `certificates.dir`; nginx reads the same files;
 * - `serve.yaml`: one domain `d<i>.bench.test` per host (mode enforce, its own MX), run through the real
 *   CLI from dist/ (`node bin/mtasts.js serve --config serve.yaml`; `npm run build` is run first when
 *   dist/ is older than src/, unless --no-build);
 * - `nginx.conf`: one `server` block per host with its `ssl_certificate`/`ssl_certificate_key` and
 *   `location = /.well-known/mta-sts.txt` serving policies/<host>.txt, the canonical policy text that
 *   mtasts serves for that host (written from the same parsed configuration; checked byte for byte before
 *   timing), `default_type text/plain` with `charset utf-8` (mtasts sends
 *   `text/plain; charset=utf-8`). nginx runs with its own prefix: `nginx -p DIR -c DIR/nginx.conf -e
 *   DIR/error.log -g 'daemon off;'`, pid, logs and temp paths inside DIR, `access_log off`,
 *   `keepalive_requests` raised to 1000000 (mtasts does not limit requests per connection).
 * - `--workers 1` (default): `worker_processes 1` against mtasts `workers: 1` (one process each);
 *   `--workers 1,2` adds a series with two of each (mtasts: node:cluster primary + 2 workers).
 * - a third, reference contender `node`: bench/serve-node-ref.mjs, a minimal `https.createServer`
 *   (HTTP/1.1 only) run by plain `node` (no loader) in a child process, with the same certificates
 *   (one prebuilt SecureContext per host, chosen by `SNICallback` from a Map), the same policy files
 *   and mtasts's response headers, one `writeHead` + `end` per request, no logging or metrics. It is
 *   the floor Node's own HTTP/TLS stack sets on this machine: mtasts/node shows how much mtasts's code
 *   costs on top of it, node/nginx how far Node itself is from nginx. With `--workers N` it runs N
 *   node:cluster workers, like mtasts.
 *
 * Name resolution and SNI: wrk sends the URL's host name as SNI and normally resolves it through the
 * system resolver. bench/serve-wrk.lua overrides `wrk.resolve` to connect to 127.0.0.1 instead, so
 * the URL can carry the real policy host names without /etc/hosts entries or a DNS server.
 * One wrk process has one SNI name; the Lua script rotates the Host header over all `--hosts` names
 * (all servers accept a Host that differs from SNI when both are configured hosts: the certificate
 * comes from SNI, the policy from Host). `--sni N` runs N wrk processes (`-t1` each) in parallel, each
 * with its own SNI name (spread over the host list), splitting `--connections` between them, so
 * N certificates are used in the handshakes and all host names in the requests.
 *
 * Each round runs every mode for all three servers; the order rotates between rounds and modes (each
 * server goes first, second and third in turn). Rates are medians over rounds; the ratios are medians of
 * the per-round ratios (the target is judged on mtasts/nginx). Server CPU (all processes of the server,
 * from /proc) per request is reported too: it depends less on what else runs on the machine than the
 * rates do.
 *
 *   node --import tsx bench/serve-vs-nginx.ts [--hosts 1000] [--rounds 3] [--duration 10]
 *        [--connections 50] [--sni 1] [--workers 1|1,2] [--modes close,resumed,keepalive] [--warmup 3]
 *        [--no-build] [--cpu-prof DIR] [--json FILE] [--keep] [--strict]
 *
 * Exit status 0 (1 with --strict when a target is missed: close ≥ 1.0× nginx, keep-alive ≥ 0.7× nginx
 * with one worker each; the `node` reference is not judged), 2 when nginx or wrk is missing or a server
 * does not start or serves wrong bodies.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/serve/config.js';
import { createTestCA } from '../src/testworld/ca.js';
import { freePort } from '../src/testworld/ports.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const LUA = path.join(ROOT, 'bench', 'serve-wrk.lua');
const NODE_REF = path.join(ROOT, 'bench', 'serve-node-ref.mjs');
const POLICY_PATH = '/.well-known/mta-sts.txt';
/** close: full TLS handshake per request; resumed: Connection: close but wrk resumes the TLS session; keepalive. */
const MODES = ['close', 'resumed', 'keepalive'] as const;
type Mode = (typeof MODES)[number];
/** `node`: the reference, a minimal node:https server (bench/serve-node-ref.mjs). */
const SERVERS = ['mtasts', 'node', 'nginx'] as const;
type ServerName = (typeof SERVERS)[number];
const TARGET: Record<Mode, number> = { close: 1.0, resumed: 1.0, keepalive: 0.7 };
const MODE_LABEL: Record<Mode, string> = {
  close: '(a) new TLS connection per request, full handshake',
  resumed: '(a\') new TLS connection per request, session resumed',
  keepalive: '(b) keep-alive',
};

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    sni: { type: 'string', default: '1' },
    workers: { type: 'string', default: '1' },
    modes: { type: 'string', default: 'close,resumed,keepalive' },
    warmup: { type: 'string', default: '3' },
    'no-build': { type: 'boolean', default: false },
    'cpu-prof': { type: 'string' },
    json: { type: 'string' },
    keep: { type: 'boolean', default: false },
    strict: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log('usage: node --import tsx bench/serve-vs-nginx.ts [--hosts N] [--rounds N] [--duration S] [--connections N] [--sni N]\n'
    + '         [--workers 1|1,2] [--modes close,resumed,keepalive] [--warmup S] [--no-build] [--cpu-prof DIR] [--json FILE] [--keep] [--strict]');
  process.exit(0);
}
const int = (name: string, v: string, min: number): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) {
    console.error(`--${name}: expected a whole number ≥ ${min}, got ${JSON.stringify(v)}`);
    process.exit(64);
  }
  return n;
};
const HOSTS = int('hosts', values.hosts, 1);
const ROUNDS = int('rounds', values.rounds, 1);
const DURATION = int('duration', values.duration, 1);
const CONNECTIONS = int('connections', values.connections, 1);
const SNI = Math.min(int('sni', values.sni, 1), HOSTS, CONNECTIONS);
const WARMUP = int('warmup', values.warmup, 0);
const WORKERS = values.workers.split(',').map((w) => int('workers', w.trim(), 1));
const RUN_MODES = values.modes.split(',').map((m) => m.trim()) as Mode[];
for (const m of RUN_MODES) {
  if (!MODES.includes(m)) {
    console.error(`--modes: unknown mode ${JSON.stringify(m)} (expected close, resumed, keepalive)`);
    process.exit(64);
  }
}

// --- processes: every child gets its own process group, killed as a group on any exit ----------

const groups = new Set<number>();
let workDir: string | undefined;

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    /* already gone */
  }
}

function cleanup(): void {
  for (const pid of groups) killGroup(pid, 'SIGKILL');
  groups.clear();
  if (workDir && !values.keep) rmSync(workDir, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    console.error(`\n${sig}: stopping`);
    process.exit(130);
  });
}

function start(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): ChildProcess {
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env });
  if (child.pid !== undefined) {
    const pid = child.pid;
    groups.add(pid);
    child.once('exit', () => {
      // The leader is gone; members (cluster workers, nginx workers) are killed with the group.
      killGroup(pid, 'SIGKILL');
      groups.delete(pid);
    });
  }
  return child;
}

async function stop(child: ChildProcess, graceMs = 10_000): Promise<void> {
  const pid = child.pid;
  if (pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  killGroup(pid, 'SIGTERM');
  const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** CPU time (ms) of every live process in the process group `pgid`, from /proc. */
function groupCpuMs(pgid: number): number {
  const tick = 1000 / 100; // CLK_TCK is 100 on Linux
  let total = 0;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;
    }
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(f[2]) !== pgid) continue;
    total += (Number(f[11]) + Number(f[12])) * tick;
  }
  return total;
}


const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] ?? NaN) : ((s[m - 1] ?? NaN) + (s[m] ?? NaN)) / 2;
};

// --- preflight ----------------------------------------------------------------------------------

function which(cmd: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}
for (const cmd of ['nginx', 'wrk']) {
  if (which(cmd) === null) {
    console.error(`${cmd} is not installed (Debian: apt-get install ${cmd === 'nginx' ? 'nginx-light' : 'wrk'})`);
    process.exit(2);
  }
}

function newestMtime(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newestMtime(p));
    else if (e.name.endsWith('.ts')) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}
const distMain = path.join(ROOT, 'dist', 'cli', 'main.js');
if (!values['no-build']) {
  const distServer = path.join(ROOT, 'dist', 'serve', 'server.js');
  const stale = !existsSync(distMain) || !existsSync(distServer) || newestMtime(path.join(ROOT, 'src')) > statSync(distServer).mtimeMs;
  if (stale) {
    console.log('dist/ is older than src/: npm run build');
    const r = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
    if (r.status !== 0) {
      console.error('npm run build failed');
      process.exit(2);
    }
  }
}
if (!existsSync(distMain) || !existsSync(path.join(ROOT, 'dist', 'serve', 'server.js'))) {
  console.error('dist/ is missing: run npm run build');
  process.exit(2);
}

// --- the fixture: certificates, policies, both configurations ------------------------------------

const hostName = (i: number): string => `mta-sts.d${i}.bench.test`;
workDir = mkdtempSync(path.join(os.tmpdir(), 'mtasts-serve-bench-'));
const dir = workDir;
// nginx's workers run as nobody and read the policy files: the directory must be traversable.
chmodSync(dir, 0o755);
const certDir = path.join(dir, 'certs');
const policyDir = path.join(dir, 'policies');
mkdirSync(certDir);
mkdirSync(policyDir);
mkdirSync(path.join(dir, 'tmp'));

// wrk resumes TLS sessions on reconnection (SSL_clear keeps the session): for full handshakes, the
// "close" mode preloads bench/serve-wrk-noresume.c, compiled here.
let noResumeShim = '';
if (RUN_MODES.includes('close')) {
  noResumeShim = path.join(dir, 'wrk-noresume.so');
  const cc = spawnSync('cc', ['-O2', '-shared', '-fPIC', '-o', noResumeShim, path.join(ROOT, 'bench', 'serve-wrk-noresume.c'), '-ldl', '-lssl'], { encoding: 'utf8' });
  if (cc.status !== 0) {
    console.error(`cannot compile bench/serve-wrk-noresume.c (needs cc and libssl): ${cc.stderr ?? cc.error?.message}\nuse --modes resumed,keepalive to run without it`);
    process.exit(2);
  }
}

const t0 = Date.now();
const ca = await createTestCA({ commonName: 'mtasts serve bench CA' });
for (let i = 0; i < HOSTS; i++) {
  const c = await ca.issue({ names: [hostName(i)] });
  writeFileSync(path.join(certDir, `${hostName(i)}.crt`), c.chainPem);
  writeFileSync(path.join(certDir, `${hostName(i)}.key`), c.keyPem, { mode: 0o600 });
}
const domainLines: string[] = [];
for (let i = 0; i < HOSTS; i++) domainLines.push(`  d${i}.bench.test: { mode: enforce, mx: [mx1.d${i}.bench.test, "*.mx.bench.test"], max_age: 604800 }`);

function mtastsYaml(port: number, workers: number): string {
  return [
    `listen: { https: "127.0.0.1:${port}", admin: false }`,
    'certificates: { dir: ./certs }',
    `workers: ${workers}`,
    'log_level: warn',
    'domains:',
    ...domainLines,
    '',
  ].join('\n');
}
// The canonical policy texts, from the same configuration code mtasts serve uses.
writeFileSync(path.join(dir, 'serve.yaml'), mtastsYaml(1, 1));
const parsed = loadConfig(path.join(dir, 'serve.yaml'));
const expected = new Map<string, string>();
const etags = new Map<string, string>();
for (const [host, entry] of parsed.hosts) {
  expected.set(host, entry.text);
  etags.set(host, `"${entry.id}"`);
  writeFileSync(path.join(policyDir, `${host}.txt`), entry.body);
}

/** The manifest bench/serve-node-ref.mjs reads: the same certificate and policy files, mtasts's ETags. */
function nodeRefManifest(port: number, workers: number): string {
  const hosts = [...expected.keys()].map((h) => ({
    host: h, cert: path.join(certDir, `${h}.crt`), key: path.join(certDir, `${h}.key`), policy: path.join(policyDir, `${h}.txt`), etag: etags.get(h),
  }));
  return `${JSON.stringify({ listen: { host: '127.0.0.1', port }, workers, hosts })}\n`;
}

function nginxConf(port: number, workers: number): string {
  const servers: string[] = [];
  for (let i = 0; i < HOSTS; i++) {
    const h = hostName(i);
    servers.push(`  server {
    listen 127.0.0.1:${port} ssl http2;
    server_name ${h};
    ssl_certificate ${path.join(certDir, `${h}.crt`)};
    ssl_certificate_key ${path.join(certDir, `${h}.key`)};
    location = ${POLICY_PATH} {
      default_type text/plain;
      alias ${path.join(policyDir, `${h}.txt`)};
    }
    location / { return 404; }
  }`);
  }
  return `worker_processes ${workers};
pid ${path.join(dir, 'nginx.pid')};
error_log ${path.join(dir, 'nginx-error.log')} warn;
events { worker_connections 10000; }
http {
  access_log off;
  charset utf-8;
  charset_types text/plain;
  server_tokens off;
  keepalive_timeout 30s;
  keepalive_requests 1000000;
  ssl_protocols TLSv1.2 TLSv1.3;
  server_names_hash_max_size 8192;
  server_names_hash_bucket_size 128;
  client_body_temp_path ${path.join(dir, 'tmp', 'body')};
  proxy_temp_path ${path.join(dir, 'tmp', 'proxy')};
  fastcgi_temp_path ${path.join(dir, 'tmp', 'fastcgi')};
  uwsgi_temp_path ${path.join(dir, 'tmp', 'uwsgi')};
  scgi_temp_path ${path.join(dir, 'tmp', 'scgi')};
${servers.join('\n')}
}
`;
}
console.log(`fixture: ${HOSTS} hosts, certificates and policies in ${dir} (${Date.now() - t0} ms)`);

// --- HTTPS checks --------------------------------------------------------------------------------

interface Got { status: number; body: string; contentType: string }
function get(port: number, sni: string, host: string): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1', port, path: POLICY_PATH, servername: sni, headers: { host }, ca: ca.certPem, agent: false, timeout: 5000,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), contentType: String(res.headers['content-type']) }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

async function waitReady(name: string, child: ChildProcess, port: number, limitMs = 120_000): Promise<void> {
  const until = Date.now() + limitMs;
  let last = '';
  while (Date.now() < until) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited (${child.exitCode ?? child.signalCode})`);
    try {
      const r = await get(port, hostName(0), hostName(0));
      if (r.status === 200) return;
      last = `status ${r.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(200);
  }
  throw new Error(`${name} not ready after ${limitMs} ms: ${last}`);
}

/** All servers: 200, text/plain, and exactly the canonical text, for a sample of hosts and for Host ≠ SNI. */
async function verify(ports: Record<ServerName, number>): Promise<void> {
  const sample = new Set<number>([0, HOSTS - 1]);
  for (let k = 0; k < 25; k++) sample.add(Math.floor(Math.random() * HOSTS));
  const pairs: [string, string][] = [];
  for (const i of sample) pairs.push([hostName(i), hostName(i)]);
  // What the wrk script does: SNI of one host, Host of another.
  for (let s = 0; s < SNI; s++) pairs.push([hostName(sniIndex(s)), hostName((sniIndex(s) + 7) % HOSTS)]);
  for (const [sni, host] of pairs) {
    const got: Partial<Record<ServerName, Got>> = {};
    for (const s of SERVERS) {
      const r = await get(ports[s], sni, host);
      if (r.status !== 200 || !r.contentType.startsWith('text/plain') || r.body !== expected.get(host)) {
        throw new Error(`${s} (SNI ${sni}, Host ${host}): status ${r.status}, ${r.contentType}, body ${JSON.stringify(r.body.slice(0, 80))}`);
      }
      got[s] = r;
    }
    if (got.mtasts?.body !== got.nginx?.body || got.node?.body !== got.nginx?.body) throw new Error(`bodies differ for ${host}`);
  }
  console.log(`verified: all ${SERVERS.length} servers (${SERVERS.join(', ')}) return 200, text/plain and identical canonical bodies for ${pairs.length} (SNI, Host) pairs`);
}

// --- wrk -------------------------------------------------------------------------------------------

const sniIndex = (s: number): number => Math.floor((s * HOSTS) / SNI);

interface WrkRun { rps: number; requests: number; errors: number; errorDetail: string; latP50Ms: number; latP99Ms: number; cpuMs: number }

async function runWrk(port: number, mode: Mode, seconds: number, serverPgid: number): Promise<WrkRun> {
  const cpu0 = groupCpuMs(serverPgid);
  const jobs: Promise<Record<string, number>>[] = [];
  for (let s = 0; s < SNI; s++) {
    const conns = Math.floor(CONNECTIONS / SNI) + (s < CONNECTIONS % SNI ? 1 : 0);
    const args = ['-t1', `-c${conns}`, `-d${seconds}s`, '--timeout', '5s', '-s', LUA];
    if (mode !== 'keepalive') args.push('-H', 'Connection: close');
    args.push(`https://${hostName(sniIndex(s))}:${port}${POLICY_PATH}`);
    const env: NodeJS.ProcessEnv = { ...process.env, MTASTS_BENCH_CONNECT: '127.0.0.1', MTASTS_BENCH_HOSTS: String(HOSTS), MTASTS_BENCH_OFFSET: String(sniIndex(s)) };
    if (mode === 'close') env.LD_PRELOAD = noResumeShim;
    jobs.push(new Promise((resolve, reject) => {
      const child = start('wrk', args, { env });
      let out = '';
      let err = '';
      child.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
      child.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
      child.once('exit', (code) => {
        const line = out.split('\n').find((l) => l.startsWith('MTASTS_BENCH_JSON '));
        if (code !== 0 || line === undefined) reject(new Error(`wrk ${args.join(' ')} failed (${code}): ${err || out}`));
        else resolve(JSON.parse(line.slice('MTASTS_BENCH_JSON '.length)) as Record<string, number>);
      });
    }));
  }
  const results = await Promise.all(jobs);
  const cpuMs = groupCpuMs(serverPgid) - cpu0;
  const n = (r: Record<string, number>, k: string): number => r[k] ?? 0;
  const requests = results.reduce((a, r) => a + n(r, 'requests'), 0);
  const rps = results.reduce((a, r) => a + n(r, 'requests') / (n(r, 'duration_us') / 1e6), 0);
  const kinds = ['connect', 'read', 'write', 'status', 'timeout'];
  const errs = kinds.map((k) => results.reduce((a, r) => a + n(r, k), 0));
  return {
    rps, requests, errors: errs.reduce((a, b) => a + b, 0),
    errorDetail: kinds.map((k, i) => (errs[i] ? `${k} ${errs[i]}` : '')).filter(Boolean).join(', '),
    latP50Ms: median(results.map((r) => n(r, 'lat_p50_us') / 1000)),
    latP99Ms: Math.max(...results.map((r) => n(r, 'lat_p99_us') / 1000)),
    cpuMs,
  };
}

// --- the run -----------------------------------------------------------------------------------------

interface Series { workers: number; mode: Mode; runs: Record<ServerName, WrkRun[]> }
const series: Series[] = [];

async function startServers(workers: number): Promise<{ children: Record<ServerName, ChildProcess>; ports: Record<ServerName, number> }> {
  const ports = { mtasts: await freePort(), node: await freePort(), nginx: await freePort() };
  writeFileSync(path.join(dir, 'serve.yaml'), mtastsYaml(ports.mtasts, workers));
  writeFileSync(path.join(dir, 'nginx.conf'), nginxConf(ports.nginx, workers));
  writeFileSync(path.join(dir, 'node-ref.json'), nodeRefManifest(ports.node, workers));
  const ngArgs = ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'nginx-error.log')];
  const test = spawnSync('nginx', [...ngArgs, '-t'], { encoding: 'utf8' });
  if (test.status !== 0) throw new Error(`nginx -t failed:\n${test.stderr}`);
  const nginx = start('nginx', [...ngArgs, '-g', 'daemon off;']);
  const profArgs = values['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(values['cpu-prof'])] : [];
  const mtasts = start(process.execPath, [...profArgs, path.join(ROOT, 'bin', 'mtasts.js'), 'serve', '--config', path.join(dir, 'serve.yaml')]);
  // Plain node, no loader and no flags (process.execArgv, which holds --import tsx, is not passed on).
  const node = start(process.execPath, [NODE_REF, path.join(dir, 'node-ref.json')]);
  for (const [name, c] of [['nginx', nginx], ['mtasts', mtasts], ['node', node]] as const) {
    c.stderr?.on('data', (d: Buffer) => process.stderr.write(`[${name}] ${d.toString()}`));
    c.stdout?.on('data', (d: Buffer) => process.stdout.write(`[${name}] ${d.toString()}`));
  }
  const t = Date.now();
  await Promise.all([waitReady('nginx', nginx, ports.nginx), waitReady('mtasts serve', mtasts, ports.mtasts), waitReady('node reference', node, ports.node)]);
  console.log(`servers ready (${Date.now() - t} ms): mtasts serve on 127.0.0.1:${ports.mtasts}, node reference on 127.0.0.1:${ports.node}, nginx on 127.0.0.1:${ports.nginx}, ${workers} worker(s) each`);
  return { children: { mtasts, node, nginx }, ports };
}

const fmt = (x: number, d = 0): string => x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });

console.log(`wrk: ${SNI} process(es) with -t1, ${CONNECTIONS} connections in total, ${DURATION} s per run, ${ROUNDS} round(s); modes ${RUN_MODES.join(', ')}`);
try {
  for (const workers of WORKERS) {
    const { children, ports } = await startServers(workers);
    await verify(ports);
    const mine: Series[] = RUN_MODES.map((mode) => ({ workers, mode, runs: { mtasts: [], node: [], nginx: [] } }));
    series.push(...mine);
    if (WARMUP > 0) {
      for (const mode of RUN_MODES) for (const s of SERVERS) await runWrk(ports[s], mode, WARMUP, children[s].pid ?? 0);
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (const [mi, mode] of RUN_MODES.entries()) {
        // Rotation: over consecutive rounds each server runs first, second and third.
        const shift = (round + mi) % SERVERS.length;
        const order = [...SERVERS.slice(shift), ...SERVERS.slice(0, shift)];
        const line: string[] = [];
        for (const s of order) {
          const r = await runWrk(ports[s], mode, DURATION, children[s].pid ?? 0);
          mine[mi]?.runs[s].push(r);
          line.push(`${s} ${fmt(r.rps)} req/s (cpu ${fmt(r.cpuMs / (r.requests / 1000), 1)} ms/1k req${r.errors ? `; errors: ${r.errorDetail}` : ''})`);
        }
        console.log(`workers ${workers}, round ${round + 1}, ${mode.padEnd(9)}: ${line.join(' | ')}`);
      }
    }
    await Promise.all(SERVERS.map((s) => stop(children[s])));
  }
} catch (err) {
  console.error(`bench failed: ${(err as Error).message}`);
  process.exit(2);
}

// --- report --------------------------------------------------------------------------------------

// Ratios are medians of the per-round ratios (a round's runs are back to back, so they share most of the
// machine's background load); the ratio of the median rates is shown too for mtasts/nginx, the one judged.
const cpu = (runs: WrkRun[]): number => median(runs.map((r) => r.cpuMs / (r.requests / 1000)));
const errs = (runs: WrkRun[]): number => runs.reduce((a, r) => a + r.errors, 0);
const rates = (runs: WrkRun[]): number[] => runs.map((r) => r.rps);
const perRound = (a: WrkRun[], b: WrkRun[]): number[] => a.map((r, i) => r.rps / (b[i]?.rps ?? NaN));

console.log(`\n| workers | mode | mtasts req/s (median) | node req/s (median) | nginx req/s (median) | mtasts/nginx (median of rounds) | per-round mtasts/nginx | mtasts/nginx of medians | mtasts/node (median of rounds) | node/nginx (median of rounds) | server CPU ms per 1000 req (mtasts / node / nginx) | errors (mtasts / node / nginx) |`);
console.log('|---:|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---|');
let missed = false;
const json: unknown[] = [];
for (const s of series) {
  const { mtasts, node, nginx } = s.runs;
  const mn = perRound(mtasts, nginx);
  const mo = perRound(mtasts, node);
  const on = perRound(node, nginx);
  const ratio = median(mn);
  const ratioOfMedians = median(rates(mtasts)) / median(rates(nginx));
  const target = TARGET[s.mode];
  const ok = ratio >= target;
  if (s.workers === 1 && s.mode !== 'resumed' && !ok) missed = true;
  console.log(`| ${s.workers} | ${MODE_LABEL[s.mode]} | ${fmt(median(rates(mtasts)))} | ${fmt(median(rates(node)))} | ${fmt(median(rates(nginx)))} `
    + `| **${ratio.toFixed(2)}×** (target ${target.toFixed(1)}×: ${ok ? 'met' : 'missed'}) | ${mn.map((x) => x.toFixed(2)).join(' / ')} | ${ratioOfMedians.toFixed(2)}× `
    + `| ${median(mo).toFixed(2)}× (${mo.map((x) => x.toFixed(2)).join(' / ')}) | ${median(on).toFixed(2)}× (${on.map((x) => x.toFixed(2)).join(' / ')}) `
    + `| ${fmt(cpu(mtasts), 1)} / ${fmt(cpu(node), 1)} / ${fmt(cpu(nginx), 1)} | ${errs(mtasts)} / ${errs(node)} / ${errs(nginx)} |`);
  json.push({
    workers: s.workers, mode: s.mode, ratio, ratioOfMedians, perRound: mn,
    mtastsOverNode: median(mo), mtastsOverNodePerRound: mo, nodeOverNginx: median(on), nodeOverNginxPerRound: on,
    cpuMsPer1000: { mtasts: cpu(mtasts), node: cpu(node), nginx: cpu(nginx) },
    mtasts, node, nginx,
  });
}
console.log('\nper run (req/s): ' + series.map((s) => `workers ${s.workers} ${s.mode}: ${SERVERS.map((n) => `${n} ${s.runs[n].map((r) => fmt(r.rps)).join('/')}`).join(', ')}`).join('; '));
console.log('per run (server CPU ms per 1000 req): ' + series.map((s) => `workers ${s.workers} ${s.mode}: ${SERVERS.map((n) => `${n} ${s.runs[n].map((r) => fmt(r.cpuMs / (r.requests / 1000), 1)).join('/')}`).join(', ')}`).join('; '));
if (values.json) {
  writeFileSync(values.json, `${JSON.stringify({
    date: new Date().toISOString(), hosts: HOSTS, rounds: ROUNDS, duration: DURATION, connections: CONNECTIONS, sni: SNI, warmup: WARMUP,
    node: process.version, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, series: json,
  }, null, 2)}\n`);
}
process.exit(values.strict && missed ? 1 : 0);
