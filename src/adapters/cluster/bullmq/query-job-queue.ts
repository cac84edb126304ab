import { Queue, type JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { EventBus } from '../../../ports/event-bus.js';
import type { QueryRunner } from '../../../ports/query-jobs.js';
import type { PostgresQueryJobs } from '../postgres/postgres-query-jobs.js';

/**
 * The BullMQ queue of `/retrieve` query jobs, shared by its producer, consumer and reconciler.
 * A queue of its own, so workers take query jobs apart from (and ahead of) bulk ingestion.
 */
export const QUERY_JOB_QUEUE = 'ragd-query';

/** Where the queue lives. Each producer, consumer and reconciler opens its own connection. */
export interface QueryJobRedis {
  url: string;
  /** BullMQ's key prefix (default `bull`): tests and side-by-side deployments use their own. */
  prefix?: string;
}

/** What the producer and the consumer are both built from. */
export interface QueryJobSideDeps {
  jobs: PostgresQueryJobs;
  query: QueryRunner;
  bus: EventBus;
  redis: QueryJobRedis;
  logger?: Logger;
  /**
   * The tenant's concurrent-query slot, shared by every node (429 when full). The producer checks
   * it at submit, so a tenant at its limit hears so at once; the consumer holds one while a job
   * runs, as a synchronous query does, so /retrieve cannot take a tenant past its limit.
   */
  admit?: (tenantId: string) => Promise<() => void>;
}

/** A job carries only its task id: the request is in PostgreSQL (`query_jobs`). */
export interface QueryJobData {
  taskId: string;
}

/**
 * The job id is the task id, so adding a job that already exists (the producer and the
 * reconciler both adding it) is ignored by BullMQ. Finished jobs are removed at once: the result
 * is in the task row, and a job that gave up is added again by the reconciler while its task is
 * unfinished and unexpired.
 */
function jobOptions(taskId: string): JobsOptions {
  return {
    jobId: taskId,
    // 1 is BullMQ's highest priority: interactive work goes ahead of anything else on this queue.
    priority: 1,
    attempts: 3,
    backoff: { type: 'exponential', delay: 500 },
    removeOnComplete: true,
    removeOnFail: true,
  };
}

/**
 * A connection for a queue handle (producer, reconciler): a command fails after one reconnect
 * attempt instead of queueing while Redis is away, so a request never hangs on it.
 */
export function queueConnection(redis: QueryJobRedis): Redis {
  return new Redis(redis.url, { maxRetriesPerRequest: 1, lazyConnect: false });
}

export function openQueryJobQueue(redis: QueryJobRedis, connection: Redis): Queue<QueryJobData> {
  return new Queue<QueryJobData>(QUERY_JOB_QUEUE, { connection, ...(redis.prefix ? { prefix: redis.prefix } : {}) });
}

export async function addQueryJob(queue: Queue<QueryJobData>, taskId: string): Promise<void> {
  await queue.add('retrieve', { taskId }, jobOptions(taskId));
}
