/** The in-memory store: a Map with an optional size bound (least recently used entries go first). */
import { mayReplace, type CachedPolicy, type PolicyStore } from './types.js';

export class MemoryStore implements PolicyStore {
  readonly kind = 'memory';
  private readonly map = new Map<string, CachedPolicy>();

  constructor(private readonly maxEntries = Infinity) {}

  get size(): number {
    return this.map.size;
  }

  /** Synchronous read, for the resolver's hot path. Marks the entry most recently used. */
  peek(domain: string): CachedPolicy | null {
    const e = this.map.get(domain);
    if (!e) return null;
    if (this.maxEntries !== Infinity) {
      this.map.delete(domain);
      this.map.set(domain, e);
    }
    return e;
  }

  put(entry: CachedPolicy): void {
    this.map.delete(entry.domain);
    this.map.set(entry.domain, entry);
    while (this.map.size > this.maxEntries) {
      const oldest = this.map.keys().next();
      if (oldest.done) break;
      this.map.delete(oldest.value);
    }
  }

  remove(domain: string): void {
    this.map.delete(domain);
  }

  values(): IterableIterator<CachedPolicy> {
    return this.map.values();
  }

  async get(domain: string): Promise<CachedPolicy | null> {
    return this.peek(domain);
  }

  async set(entry: CachedPolicy): Promise<void> {
    if (mayReplace(this.peek(entry.domain), entry)) this.put(entry);
  }

  async delete(domain: string): Promise<void> {
    this.remove(domain);
  }

  async list(): Promise<CachedPolicy[]> {
    return [...this.map.values()];
  }

  async close(): Promise<void> {}
}
