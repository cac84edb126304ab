/**
 * A query-job worker as a process of its own, for the kill -9 test in
 * test/adapters/query-jobs-conformance.test.ts. Its runner never finishes a query; it prints
 * `started <query>` when one starts, so the parent knows when to kill it.
 * argv: database URL, Redis URL, BullMQ prefix, lock duration (ms), stalled-check interval (ms).
 * (Workers of one queue share the stalled check's schedule in Redis, so the test gives both the same.)
 */
import { BullmqQueryJobConsumer } from '../../src/adapters/cluster/bullmq/query-job-consumer.js';
import { createPool } from '../../src/adapters/cluster/postgres/pool.js';
import { PostgresQueryJobs } from '../../src/adapters/cluster/postgres/postgres-query-jobs.js';
import { MemoryEventBus } from '../../src/adapters/embedded/memory-event-bus.js';
import type { QueryRunner } from '../../src/ports/query-jobs.js';

const [dbUrl, redisUrl, prefix, lockMs, stalledMs] = process.argv.slice(2) as [string, string, string, string, string];
const pool = createPool({ url: dbUrl, max: 2, connectTimeoutMs: 5000, statementTimeoutMs: 30_000 });
const runner: QueryRunner = {
  assertKb: async () => ({}),
  run: (_scope, req) => {
    process.stdout.write(`started ${req.query}\n`);
    return new Promise(() => {});
  },
};
const consumer = new BullmqQueryJobConsumer(
  { jobs: new PostgresQueryJobs(pool), query: runner, bus: new MemoryEventBus(), redis: { url: redisUrl, prefix } },
  { concurrency: 1, lockDurationMs: Number(lockMs), stalledIntervalMs: Number(stalledMs) },
);
await consumer.start();
process.stdout.write('ready\n');
