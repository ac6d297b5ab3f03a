/**
 * A worker thread of checkDomainsParallel (./parallel.ts): builds its own DNS client (and, through
 * the check, its own TLS contexts), then checks each domain it is sent and posts the report back.
 * The main thread bounds how many domains it holds at once.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { DnsClient } from '../dns/resolver.js';
import { checkOrReport, type CheckOptions } from './check.js';
import type { WorkerResult, WorkerSetup, WorkerTask } from './parallel.js';

const port = parentPort;
if (!port) throw new Error('parallel-worker.ts runs only as a worker thread of checkDomainsParallel');
const setup = workerData as WorkerSetup;
const dns = new DnsClient({
  ...(setup.dns.servers.length > 0 ? { servers: setup.dns.servers } : {}),
  timeoutMs: setup.dns.timeoutMs,
  maxInFlight: setup.dns.maxInFlight,
});
const base: CheckOptions = { ...setup.options, dns };

port.on('message', (task: WorkerTask) => {
  void checkOrReport(task.input, task.previous ? { ...base, previous: task.previous } : base).then((report) => {
    const result: WorkerResult = { index: task.index, report };
    port.postMessage(result);
  });
});
