import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PG_URL, requireService } from '../../test/prereq.js';
import { databaseSpec, numberPlaceholders, openDatabase, PostgresDatabase, type SqlDatabase } from './sql.js';

const TABLE = `sql_test_${process.pid}_${Date.now().toString(36)}`;

test('numberPlaceholders numbers ? outside quotes', () => {
  assert.equal(numberPlaceholders("SELECT ? , '?', \"a?\", ?"), "SELECT $1 , '?', \"a?\", $2");
});

test('databaseSpec: explicit, then MTASTS_DB, then mtasts.db', () => {
  assert.equal(databaseSpec('x.db', { MTASTS_DB: 'y.db' }), 'x.db');
  assert.equal(databaseSpec(undefined, { MTASTS_DB: 'postgres://h/d' }), 'postgres://h/d');
  assert.equal(databaseSpec(undefined, {}), 'mtasts.db');
});

test('a PostgreSQL database name hides the password', async () => {
  const db = new PostgresDatabase('postgres://u:s3cret@127.0.0.1:1/d');
  assert.equal(db.name, 'postgres://u:***@127.0.0.1:1/d');
  await db.close();
});

async function conformance(db: SqlDatabase): Promise<void> {
  const blob = db.kind === 'postgres' ? 'BYTEA' : 'BLOB';
  await db.exec(`CREATE TABLE ${TABLE} (k TEXT PRIMARY KEY, n BIGINT NOT NULL, b ${blob})`);
  try {
    await db.run(`INSERT INTO ${TABLE} (k, n, b) VALUES (?, ?, ?)`, ['a', 2 ** 40, Buffer.from([1, 2, 3])]);
    const dup = await db.run(`INSERT INTO ${TABLE} (k, n) VALUES (?, ?) ON CONFLICT (k) DO NOTHING`, ['a', 1]);
    assert.equal(dup.changes, 0);
    // A transaction that throws leaves nothing behind.
    await assert.rejects(db.transaction(async (tx) => {
      await tx.run(`INSERT INTO ${TABLE} (k, n) VALUES (?, ?)`, ['b', 1]);
      throw new Error('boom');
    }), /boom/);
    await db.transaction(async (tx) => {
      await tx.run(`INSERT INTO ${TABLE} (k, n) VALUES (?, ?)`, ['c', 3]);
    });
    const rows = await db.query<{ k: string; n: number; b: Buffer | null }>(`SELECT k, n, b FROM ${TABLE} ORDER BY k`);
    assert.deepEqual(rows.map((r) => [r.k, r.n]), [['a', 2 ** 40], ['c', 3]]);
    assert.deepEqual([...rows[0]!.b!], [1, 2, 3]);
  } finally {
    await db.exec(`DROP TABLE ${TABLE}`);
  }
}

test('SQLite: statements, conflicts, transactions, blobs and big integers', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'mtasts-sql-'));
  const db = await openDatabase(path.join(dir, 'sub', 'x.db'));
  try {
    await conformance(db);
  } finally {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('PostgreSQL: the same behaviour', async (t: TestContext) => {
  const db = await requireService(t, `PostgreSQL at ${PG_URL}`, () => openDatabase(PG_URL, { timeoutMs: 3000 }));
  if (db === undefined) return;
  try {
    await conformance(db);
  } finally {
    await db.close();
  }
});
