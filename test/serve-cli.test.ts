/** `mtasts serve` as a process: SIGHUP reload, --check-config, SIGTERM, and workers (node:cluster). */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createTestCA, type TestCA } from '../src/testworld/index.js';
import { certDir, httpsRequest, runCli, tempDir } from './serve-helpers.js';

const ENTRY = new URL('./serve-cli-entry.ts', import.meta.url).pathname;

interface Proc {
  child: ChildProcess;
  logs: Record<string, unknown>[];
  waitLog(pred: (l: Record<string, unknown>) => boolean, what: string, timeoutMs?: number): Promise<Record<string, unknown>>;
}

function startServe(args: string[]): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: Record<string, unknown>[] = [];
  let buf = '';
  child.stdout?.on('data', (c: Buffer) => {
    buf += c.toString();
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    for (const l of parts) if (l.startsWith('{')) logs.push(JSON.parse(l) as Record<string, unknown>);
  });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => { stderr += c.toString(); });
  return {
    child, logs,
    async waitLog(pred, what, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = logs.find(pred);
        if (hit) return hit;
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no log line: ${what}\n${JSON.stringify(logs.slice(-5))}\n${stderr.slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
  };
}

const stop = (p: Proc): Promise<number | null> => new Promise((resolve) => {
  if (p.child.exitCode !== null) return resolve(p.child.exitCode);
  p.child.once('exit', (code) => resolve(code));
  p.child.kill('SIGTERM');
});

function config(dir: string, mode: string, extra = ''): string {
  const file = join(dir, 'serve.yaml');
  writeFileSync(file, [
    'listen: { https: "127.0.0.1:0", admin: "127.0.0.1:0" }',
    'certificates: { dir: ./certs }',
    extra,
    'domains:',
    `  a.example: { mode: ${mode}, mx: [mx.a.example] }`,
    '',
  ].join('\n'));
  return file;
}

describe('mtasts serve (process)', () => {
  let ca: TestCA;
  let dir: string;
  before(async () => {
    ca = await createTestCA();
    dir = tempDir('mtasts-serve-cli-');
    await certDir(ca, ['mta-sts.a.example'], { dir: join(dir, 'certs') });
  });

  test('--check-config validates; errors print file:line and exit 1', async () => {
    const ok = await runCli(['serve', '--config', config(dir, 'enforce'), '--check-config']);
    assert.equal(ok.code, 0, ok.err);
    assert.match(ok.out, /OK, 1 domain/);
    const bad = await runCli(['serve', '--config', config(dir, 'enforcing'), '--check-config']);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /serve\.yaml:5:\d+: domains\.a\.example\.mode/);
    assert.equal((await runCli(['serve'])).code, 2);
  });

  test('SIGHUP reloads (file watching off); SIGTERM stops cleanly', async () => {
    const file = config(dir, 'enforce');
    const p = startServe(['--config', file, '--no-watch']);
    try {
      const up = await p.waitLog((l) => l.msg === 'mtasts serve listening', 'listening');
      const port = Number(String(up.https).split(':').pop());
      assert.match((await httpsRequest(port, 'mta-sts.a.example', ca.certPem)).body, /mode: enforce/);
      config(dir, 'testing');
      await new Promise((r) => setTimeout(r, 300));
      assert.match((await httpsRequest(port, 'mta-sts.a.example', ca.certPem)).body, /mode: enforce/, 'no reload without SIGHUP');
      p.child.kill('SIGHUP');
      await p.waitLog((l) => l.msg === 'configuration reloaded', 'reload');
      assert.match((await httpsRequest(port, 'mta-sts.a.example', ca.certPem)).body, /mode: testing/);
    } finally {
      assert.equal(await stop(p), 0);
    }
  });

  test('workers: 2 runs two processes behind one port, metrics aggregated by the primary', async () => {
    const file = config(dir, 'enforce', 'workers: 2');
    const p = startServe(['--config', file]);
    try {
      const adminLine = await p.waitLog((l) => l.msg === 'cluster primary: admin listener', 'admin');
      await p.waitLog((l) => p.logs.filter((x) => x.msg === 'mtasts serve listening').length >= 2, 'two workers', 60_000);
      const workers = p.logs.filter((x) => x.msg === 'mtasts serve listening');
      assert.notEqual(workers[0]?.pid, workers[1]?.pid);
      const port = Number(String(workers[0]?.https).split(':').pop());
      assert.equal(String(workers[1]?.https).split(':').pop(), String(port), 'one shared port');
      for (let i = 0; i < 4; i++) assert.equal((await httpsRequest(port, 'mta-sts.a.example', ca.certPem)).status, 200);
      const adminPort = Number(String(adminLine.admin).split(':').pop());
      const metrics = await new Promise<string>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port: adminPort, path: '/metrics', timeout: 10_000 }, (res) => {
          let b = '';
          res.on('data', (c: Buffer) => { b += c.toString(); });
          res.on('end', () => resolve(b));
        }).on('error', reject);
      });
      assert.match(metrics, /mtasts_serve_requests_total\{status="200",protocol="http\/1\.1"\} 4/);
    } finally {
      assert.equal(await stop(p), 0);
    }
  });
});

after(() => undefined);
