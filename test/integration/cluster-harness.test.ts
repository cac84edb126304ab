/**
 * The multi-process harness itself (test/support/cluster.ts): its private PostgreSQL and Redis
 * start, answer, restart and stop without touching the shared servers, and a ragd child can be
 * killed, paused, resumed and stopped with the exit codes those signals should give.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { type PrivatePostgres, type PrivateRedis, spawnRagd, startPrivatePostgres, startPrivateRedis } from '../support/cluster.js';
import { call } from '../support/server.js';

describe('private PostgreSQL', { timeout: 180_000 }, () => {
  let server: PrivatePostgres;
  before(async () => {
    server = await startPrivatePostgres();
  });
  after(async () => {
    await server?.close();
  });

  test('answers on its own port, not 5432', async () => {
    assert.notEqual(server.port, 5432);
    const [row] = await server.query<{ v: string; port: string }>("SELECT current_setting('server_version_num') AS v, current_setting('port') AS port");
    assert.ok(Number(row!.v) >= 150000 && Number(row!.v) < 160000, `PostgreSQL 15, got ${row!.v}`);
    assert.equal(Number(row!.port), server.port);
  });

  test('a restart keeps the data and cuts open connections; a pool reconnects afterwards', async () => {
    await server.query('CREATE TABLE kept (v int)');
    await server.query('INSERT INTO kept VALUES (42)');
    const pool = new pg.Pool({ connectionString: server.url, max: 2 });
    pool.on('error', () => {}); // idle clients cut by the restart
    try {
      assert.equal((await pool.query('SELECT 1 AS one')).rows[0].one, 1);
      await server.restart({ downMs: 300 });
      assert.ok(server.running());
      const rows = await server.query<{ v: number }>('SELECT v FROM kept');
      assert.deepEqual(rows, [{ v: 42 }]);
      // The pool's idle connection was cut: the first query may fail; a later one succeeds.
      let ok = false;
      for (let i = 0; i < 3 && !ok; i++) ok = await pool.query('SELECT 1').then(() => true, () => false);
      assert.ok(ok, 'the pool reconnects to the restarted server');
    } finally {
      await pool.end();
    }
  });

  test('an immediate stop (a crash) recovers on start; a stopped server refuses connections', async () => {
    await server.stop('immediate');
    assert.equal(server.running(), false);
    await assert.rejects(server.query('SELECT 1'));
    await server.start();
    assert.deepEqual(await server.query('SELECT v FROM kept'), [{ v: 42 }]);
  });
});

describe('private Redis', { timeout: 60_000 }, () => {
  let redis: PrivateRedis;
  before(async () => {
    redis = await startPrivateRedis();
  });
  after(async () => {
    await redis?.close();
  });

  test('answers on its own port; FLUSHALL and a restart leave it empty', async () => {
    assert.notEqual(redis.port, 6379);
    assert.equal(await redis.command('SET', 'k', 'v'), 'OK');
    assert.equal(await redis.command('-n', '3', 'SET', 'k3', 'v'), 'OK');
    await redis.flushAll();
    assert.equal(await redis.command('DBSIZE'), '0');
    assert.equal(await redis.command('-n', '3', 'DBSIZE'), '0');
    await redis.command('SET', 'k', 'v');
    await redis.restart({ downMs: 100 });
    assert.equal(await redis.command('DBSIZE'), '0', 'nothing persisted across a restart');
    assert.equal(await redis.command('CONFIG', 'GET', 'save'), 'save');
  });
});

describe('ragd child processes', { timeout: 180_000 }, () => {
  let logDir: string;
  before(async () => {
    logDir = await mkdtemp(join(tmpdir(), 'ragd-harness-'));
  });
  after(async () => {
    await rm(logDir, { recursive: true, force: true });
  });

  test('SIGSTOP freezes a node, SIGCONT resumes it, kill -9 and restart, SIGTERM exits 0', async () => {
    // The embedded server: this checks the process helpers, not cluster mode.
    const node = await spawnRagd(['serve'], {}, { name: 'solo', logDir });
    try {
      assert.equal((await call(`${node.url}/healthz`)).status, 200);
      node.pause();
      await assert.rejects(fetch(`${node.url}/healthz`, { signal: AbortSignal.timeout(500) }), 'a stopped process answers nothing');
      node.resume();
      assert.equal((await call(`${node.url}/healthz`)).status, 200);

      const killed = await node.kill9();
      assert.equal(killed.signal, 'SIGKILL');
      assert.equal(node.running(), false);
      await node.restart();
      assert.equal((await call(`${node.url}/healthz`)).status, 200, 'back on the same port');

      const stopped = await node.terminate();
      assert.deepEqual(stopped, { code: 0, signal: null }, node.tail());
      assert.ok(existsSync(node.logFile) && node.tail().length > 0, 'its output was collected');
    } finally {
      if (node.running()) await node.kill9();
    }
  });
});
