/**
 * The concurrency pool both benchmark contenders run under: `concurrency` workers take the next
 * item until none is left. Every item is bounded by `itemTimeoutMs`; an item that throws or
 * overruns is recorded as not found, never retried.
 */
export type Outcome = { found: true } | { found: false; reason: string; detail: string };

export interface PoolResult {
  outcomes: Map<string, Outcome>;
  maxInFlight: number;
}

export async function runPool(
  items: readonly string[],
  concurrency: number,
  run: (item: string) => Promise<Outcome>,
  itemTimeoutMs: number,
): Promise<PoolResult> {
  const outcomes = new Map<string, Outcome>();
  let next = 0;
  let inFlight = 0;
  let maxInFlight = 0;

  const bounded = (item: string): Promise<Outcome> => {
    let timer: NodeJS.Timeout | undefined;
    const overrun = new Promise<Outcome>((resolve) => {
      timer = setTimeout(() => resolve({ found: false, reason: 'bench-timeout', detail: `not done within ${itemTimeoutMs} ms` }), itemTimeoutMs);
    });
    const work = run(item).catch((err: unknown): Outcome => ({
      found: false,
      reason: 'threw',
      detail: err instanceof Error ? `${(err as NodeJS.ErrnoException).code ?? ''} ${err.message}` : String(err),
    }));
    return Promise.race([work, overrun]).finally(() => clearTimeout(timer));
  };

  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++]!;
      inFlight++;
      if (inFlight > maxInFlight) maxInFlight = inFlight;
      outcomes.set(item, await bounded(item));
      inFlight--;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return { outcomes, maxInFlight };
}
