import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { STAGES, type PipelineStage } from '../../../domain/types.js';
import type { JobData } from './sql.js';

/**
 * One BullMQ queue per pipeline stage (so workers can be split by stage and each stage's depth is
 * visible), on one shared Redis connection, plus a manual worker per stage that this process
 * leases from, made on first use: a process that only adds jobs (an API node) opens no worker
 * connections.
 */
export interface RedisQueueOptions {
  url: string;
  /** BullMQ key prefix: queues live under `<prefix>:<stage>`. Tests use their own. */
  prefix: string;
  /**
   * How often each worker looks for jobs whose lock lapsed (their worker died or stalled) and
   * hands them back to waiting. Default 15 s (BullMQ's 30 s halved: leases here are shorter).
   */
  stalledIntervalMs?: number;
}

export class StageQueues {
  /** Adds, counts, removals: fails fast when Redis is down, so no caller hangs on it. */
  private readonly producer: Redis;
  /** Workers and event readers: waits out a reconnect (BullMQ requires it of workers). */
  readonly connection: Redis;
  private readonly queues = new Map<PipelineStage, Queue<JobData>>();
  private readonly workers = new Map<PipelineStage, Worker<JobData>>();

  constructor(
    private readonly opts: RedisQueueOptions,
    private readonly onStalled: (stage: PipelineStage, jobId: string) => void,
    private readonly onError: (err: unknown) => void,
  ) {
    // A producer call that fails is safe: the row stays unsent in PostgreSQL and the relay's
    // timer or the reconciler adds it later. A deletion or an upload must not wait on Redis.
    this.producer = new Redis(opts.url, { maxRetriesPerRequest: 1 });
    this.producer.on('error', onError);
    this.connection = new Redis(opts.url, { maxRetriesPerRequest: null });
    this.connection.on('error', onError);
    for (const stage of STAGES) {
      const q = new Queue<JobData>(stage, { connection: this.producer, prefix: opts.prefix });
      q.on('error', onError);
      this.queues.set(stage, q);
    }
  }

  queue(stage: PipelineStage): Queue<JobData> {
    return this.queues.get(stage)!;
  }

  /**
   * The stage's manual worker. `lockDuration` is the lock a fetched job starts with; the lease
   * extends it to the caller's leaseMs at once. The stalled-job check runs on a timer of its own
   * (manual workers have no run loop to drive it): it is what hands a dead worker's job back.
   */
  worker(stage: PipelineStage, lockMs: number): Worker<JobData> {
    let w = this.workers.get(stage);
    if (w) return w;
    w = new Worker<JobData>(stage, null, {
      connection: this.connection,
      prefix: this.opts.prefix,
      autorun: false,
      lockDuration: lockMs,
      stalledInterval: this.opts.stalledIntervalMs ?? 15_000,
      // A job that stalls is always handed back, never failed by BullMQ: the attempts are counted
      // in PostgreSQL, and the pipeline buries a document whose attempts ran out.
      maxStalledCount: Number.MAX_SAFE_INTEGER,
    });
    w.on('error', this.onError);
    w.on('stalled', (jobId: string) => this.onStalled(stage, jobId));
    this.workers.set(stage, w);
    w.startStalledCheckTimer().catch(this.onError);
    return w;
  }

  get stagesWithWorkers(): PipelineStage[] {
    return [...this.workers.keys()];
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.workers.values()].map((w) => w.close(true)));
    await Promise.allSettled([...this.queues.values()].map((q) => q.close()));
    this.workers.clear();
    this.producer.disconnect();
    this.connection.disconnect();
  }
}
