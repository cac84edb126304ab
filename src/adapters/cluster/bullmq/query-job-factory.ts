import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { Scope, TaskView } from '../../../domain/types.js';
import type { EventBus } from '../../../ports/event-bus.js';
import type { QueryJobConsumer, QueryJobProducer, QueryRunner } from '../../../ports/query-jobs.js';
import type { QueryRequest } from '../../../services/query/types.js';
import { closeAll } from '../../close-all.js';
import { PostgresQueryJobs } from '../postgres/postgres-query-jobs.js';
import { BullmqQueryJobConsumer } from './query-job-consumer.js';
import { BullmqQueryJobProducer } from './query-job-producer.js';
import type { QueryJobRedis } from './query-job-queue.js';
import { QueryJobReconciler } from './query-job-reconciler.js';

export interface ClusterQueryJobsOptions {
  /** This process runs query jobs (`ragd worker --query-jobs`, `serve --worker`); an API node does not. */
  runJobs: boolean;
  resultTtlMs: number;
  maxQueued: number;
  /** Jobs this process runs at once (with `runJobs`). */
  concurrency: number;
  /** Every process reconciles; one pass at a time runs across the cluster. */
  reconcileIntervalMs?: number;
  /** A job younger than this is not looked for in Redis yet. */
  reconcileGraceMs?: number;
  lockDurationMs?: number;
  /** Give every worker the same: workers of one queue share the stalled check's schedule in Redis. */
  stalledIntervalMs?: number;
}

/**
 * The cluster query jobs of one process, shaped like the embedded RetrieveJobs (submit, start,
 * close), so the composition root builds one or the other: the producer always (an API node
 * submits), the consumer only with `runJobs`, and the reconciler in every process.
 */
export class ClusterQueryJobs implements QueryJobProducer, QueryJobConsumer {
  readonly producer: BullmqQueryJobProducer;
  readonly consumer: BullmqQueryJobConsumer | null;
  readonly reconciler: QueryJobReconciler;
  private closing: Promise<void> | null = null;

  constructor(
    pool: Pool,
    deps: {
      redis: QueryJobRedis;
      bus: EventBus;
      query: QueryRunner;
      logger?: Logger;
      admit?: (tenantId: string) => Promise<() => void>;
      /** `Store.purgeExpiredTasks`: expired results go in the reconciler's pass. */
      purgeExpiredTasks?: (now: Date) => Promise<number>;
    },
    opts: ClusterQueryJobsOptions,
  ) {
    const jobs = new PostgresQueryJobs(pool);
    const common = { jobs, bus: deps.bus, redis: deps.redis, ...(deps.logger ? { logger: deps.logger } : {}) };
    const side = { ...common, query: deps.query, ...(deps.admit ? { admit: deps.admit } : {}) };
    this.producer = new BullmqQueryJobProducer(
      side,
      { resultTtlMs: opts.resultTtlMs, maxQueued: opts.maxQueued },
    );
    this.consumer = opts.runJobs
      ? new BullmqQueryJobConsumer(
          side,
          {
            concurrency: opts.concurrency,
            ...(opts.lockDurationMs ? { lockDurationMs: opts.lockDurationMs } : {}),
            ...(opts.stalledIntervalMs ? { stalledIntervalMs: opts.stalledIntervalMs } : {}),
          },
        )
      : null;
    this.reconciler = new QueryJobReconciler(
      { ...common, ...(deps.purgeExpiredTasks ? { purgeExpiredTasks: deps.purgeExpiredTasks } : {}) },
      { intervalMs: opts.reconcileIntervalMs ?? 5_000, graceMs: opts.reconcileGraceMs ?? 10_000 },
    );
  }

  submit(scope: Scope, req: QueryRequest, requestId?: string): Promise<TaskView> {
    return this.producer.submit(scope, req, requestId);
  }

  async start(): Promise<void> {
    await this.consumer?.start();
    await this.reconciler.start();
  }

  /** 1. refuse new jobs, 2. let running ones finish until the deadline, then hand them back, 3. stop reconciling. */
  close(deadlineMs: number): Promise<void> {
    this.closing ??= closeAll([() => this.producer.close(deadlineMs), () => this.consumer?.close(deadlineMs), () => this.reconciler.close()]);
    return this.closing;
  }
}
