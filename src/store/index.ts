/** Policy cache stores: memory, SQLite (embedded default), Redis and PostgreSQL. */
export { decodeEntry, encodeEntry, type CachedPolicy, type PolicyStore } from './types.js';
export { MemoryStore } from './memory.js';
export { SqliteStore, type SqliteStoreOptions } from './sqlite.js';
export { RedisStore, type RedisStoreOptions } from './redis.js';
export { PostgresStore, type PostgresStoreOptions } from './postgres.js';
