/**
 * `checkDomains` over several threads: a large batch is spread over worker threads, each with its
 * own DNS client and TLS context, so that the TLS handshakes and the JSON work of a check can use
 * more than one core. The results are the same reports, in input order.
 *
 * The main thread hands out one domain at a time and keeps the caller's `concurrency` as the
 * bound on domains in flight over all threads (each worker gets its share), so a batch puts no
 * more load on DNS servers and policy hosts than the single-threaded run would. The DNS in-flight
 * limit (`DnsClient` `maxInFlight`) is shared out the same way. A worker that dies fails the
 * domains it held with an `internal-error` report; the others carry on with the rest.
 *
 * @example
 * ```ts
 * const reports = await checkDomainsParallel(domains, { concurrency: 100, smtp: false, workers: 2 });
 * ```
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { parseDomainArgument } from '../dns/name.js';
import { checkDomains, internalErrorReport, type CheckManyOptions, type CheckOptions, type DomainReport, type Observation } from './check.js';

/** What a worker needs to build its own check options: only plain data crosses threads. */
export interface WorkerSetup {
  options: Omit<CheckOptions, 'dns' | 'now' | 'previous'>;
  dns: { servers: readonly string[]; timeoutMs: number; maxInFlight: number };
}

/** Main thread → worker: check one domain. */
export interface WorkerTask { index: number; input: string; previous?: Observation }
/** Worker → main thread: its report. */
export interface WorkerResult { index: number; report: DomainReport }

/** Smallest batch `auto` spreads over threads: below it, starting workers costs more than it gains. */
export const AUTO_MIN_DOMAINS = 200;
/** At most this many domains per worker started by `auto`, and at most this many workers. */
const AUTO_DOMAINS_PER_WORKER = 100;
const AUTO_MAX_WORKERS = 8;

/**
 * How many threads `workers` means for `count` domains: `auto` uses the machine's cores for large
 * batches (AUTO_MIN_DOMAINS and more) and one thread otherwise; a number is taken as given, but
 * never more threads than domains or than the concurrency allows.
 */
export function resolveWorkers(workers: number | 'auto', count: number, concurrency: number): number {
  const wanted = workers === 'auto'
    ? (count >= AUTO_MIN_DOMAINS ? Math.min(availableParallelism(), AUTO_MAX_WORKERS, Math.ceil(count / AUTO_DOMAINS_PER_WORKER)) : 1)
    : workers;
  return Math.max(1, Math.min(wanted, count, concurrency));
}

export interface ParallelCheckOptions extends CheckManyOptions {
  /** Worker threads to spread the domains over; 1 checks in this thread (plain checkDomains). */
  workers: number;
}

/**
 * Checks many domains over `workers` threads; results come back in input order and `onReport`
 * is called as each completes, as with checkDomains. Falls back to checkDomains for one worker,
 * or when an option cannot cross threads (`now`).
 */
export async function checkDomainsParallel(inputs: readonly string[], options: ParallelCheckOptions): Promise<DomainReport[]> {
  const concurrency = Math.max(1, options.concurrency ?? 10);
  const workers = Math.max(1, Math.min(options.workers, inputs.length, concurrency));
  const { workers: _w, onReport, previousByDomain, dns, now, ...rest } = options;
  if (workers <= 1 || now !== undefined) return checkDomains(inputs, options);

  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxInFlight = dns?.maxInFlight ?? 64;
  const setupFor = (share: number): WorkerSetup => ({
    options: rest,
    dns: {
      servers: dns?.servers ?? options.dnsServers ?? [],
      timeoutMs: dns?.timeoutMs ?? timeoutMs,
      // The DNS in-flight bound is shared out, so that all threads together keep to it.
      maxInFlight: Math.max(1, Math.ceil((maxInFlight * share) / concurrency)),
    },
  });

  const results: DomainReport[] = new Array(inputs.length);
  let next = 0;
  let completed = 0;
  const complete = (index: number, report: DomainReport): void => {
    if (results[index] !== undefined) return;
    results[index] = report;
    completed++;
    onReport?.(report, index);
  };
  const taskFor = (index: number): WorkerTask => {
    const input = inputs[index]!;
    const parsed = previousByDomain ? parseDomainArgument(input) : null;
    const previous = parsed?.ok ? previousByDomain?.get(parsed.domain) : undefined;
    return { index, input, ...(previous ? { previous } : {}) };
  };

  await new Promise<void>((resolve) => {
    let alive = workers;
    const finishIfDone = (): void => {
      if (completed === inputs.length) resolve();
    };
    for (let w = 0; w < workers; w++) {
      // Shares of the concurrency as even as possible: 100 over 3 threads is 34 + 33 + 33.
      const share = Math.floor(concurrency / workers) + (w < concurrency % workers ? 1 : 0);
      const worker = startWorker(setupFor(share));
      const held = new Set<number>();
      let dead = false;
      const feed = (): void => {
        while (!dead && held.size < share && next < inputs.length) {
          const index = next++;
          held.add(index);
          worker.postMessage(taskFor(index));
        }
        if (held.size === 0) void worker.terminate();
      };
      worker.on('message', (m: WorkerResult) => {
        held.delete(m.index);
        complete(m.index, m.report);
        feed();
        finishIfDone();
      });
      const die = (why: string): void => {
        if (dead) return;
        dead = true;
        alive--;
        for (const index of held) complete(index, internalErrorReport(inputs[index]!, `checking ${inputs[index]}: worker thread failed: ${why}`));
        held.clear();
        if (alive === 0) {
          // Nobody left to take the rest: check it here.
          const restIndexes = Array.from({ length: inputs.length - next }, (_, i) => next + i);
          next = inputs.length;
          void checkDomains(restIndexes.map((i) => inputs[i]!), {
            ...options,
            onReport: (report, k) => complete(restIndexes[k]!, report),
          }).then(finishIfDone);
        }
        finishIfDone();
      };
      worker.on('error', (err) => die(err.stack ?? err.message));
      worker.on('exit', (code) => {
        if (held.size > 0 || (code !== 0 && code !== 1)) die(`exited with code ${code}`);
        else if (!dead) {
          dead = true;
          alive--;
        }
      });
      feed();
    }
    finishIfDone();
  });
  return results;
}

/** The worker module next to this one: .js when compiled, .ts under tsx (which a worker must register itself). */
function startWorker(setup: WorkerSetup): Worker {
  const own = import.meta.url;
  if (own.endsWith('.ts')) {
    const entry = new URL('./parallel-worker.ts', own).href;
    const tsx = import.meta.resolve('tsx/esm/api');
    const code = `import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${JSON.stringify(entry)}); })`;
    return new Worker(code, { eval: true, workerData: setup });
  }
  return new Worker(new URL('./parallel-worker.js', own), { workerData: setup });
}
