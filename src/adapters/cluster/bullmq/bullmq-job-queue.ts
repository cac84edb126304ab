import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Job } from 'bullmq';
import { QueueEvents } from 'bullmq';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { STAGES, type PipelineStage, type Scope } from '../../../domain/types.js';
import type { JobQueue, LeasedJob, NewJob, StageCounts } from '../../../ports/job-queue.js';
import type { TenantLimitsSource } from '../../../ports/tenant-limits.js';
import { OutboxRelay } from './outbox-relay.js';
import * as SQL from './sql.js';
import { TenantWeights } from './priority.js';
import { Reconciler, type ReconcilerCounters } from './reconciler.js';
import { StageQueues, type RedisQueueOptions } from './stage-queues.js';

/**
 * The cluster pipeline queue: BullMQ schedules, PostgreSQL decides (docs/cluster-design.md).
 *
 * - The `pipeline_jobs` row is the record of a document's pending stage; a BullMQ job
 *   `<document>:<stage>:<generation>` is only its ticket. Rows reach BullMQ through the outbox
 *   relay; the reconciler re-adds what Redis lost.
 * - `lease` takes a BullMQ job (manual processing, one worker per stage) and claims its row by
 *   bumping the fence. A job whose row is gone or moved on is stale: acknowledged and skipped.
 * - Every settle names the fence: an attempt whose job was taken over (BullMQ's stalled check
 *   handed it to another consumer, which claimed a newer fence) changes nothing, and its index
 *   commit (IndexCommit.fence) writes nothing.
 */

export interface BullmqJobQueueOptions {
  redis: RedisQueueOptions;
  maxAttempts: number;
  /** Tenant pipelineWeight (fair-share priorities); without it every tenant weighs 1. */
  limits?: TenantLimitsSource;
  logger: Logger;
  relayIntervalMs?: number;
  /** The reconciler's period (default 30 s) and grace before it judges a row (default 5 s). */
  reconcileIntervalMs?: number;
  reconcileGraceMs?: number;
  /** The reconciler's clock (epoch ms). Default Date.now. */
  clock?: () => number;
  /**
   * Wake this process's idle consumers when another process adds a job (BullMQ QueueEvents, one
   * stream reader per stage leased from). Default true; without it they find it by polling.
   */
  remoteWake?: boolean;
}

/** Queue depth by state, for metrics (BullMQ's states; failed is PostgreSQL's buried rows). */
export interface StageDepth {
  waiting: number;
  prioritized: number;
  active: number;
  delayed: number;
  failed: number;
}

export interface QueueCounters extends ReconcilerCounters {
  /** Jobs this process's stalled check handed back (their worker's lock lapsed). */
  stalledTakeovers: number;
  /** Settles and heartbeats refused because the attempt's fence was no longer the row's. */
  fenceRejections: number;
  /** Leased BullMQ jobs whose row was gone or had moved on, acknowledged and skipped. */
  staleSkipped: number;
  /** Rows this process's relay added to BullMQ. */
  relayed: number;
}

interface Held {
  bull: Job<SQL.JobData>;
  owner: string;
  documentId: string;
  fence: number;
  /** When the lock lapses unless extended (epoch ms). */
  expiresAt: number;
}

/** A lease neither settled nor extended for this long after it lapsed is forgotten (see prune). */
const FORGET_AFTER_MS = 60_000;

/** At most this many stale jobs are skipped in one lease call before it reports none. */
const MAX_SKIPS = 50;

export class BullmqJobQueue implements JobQueue {
  private readonly events = new EventEmitter<{ runnable: [stage: PipelineStage | null] }>();
  private readonly queues: StageQueues;
  private readonly relay: OutboxRelay;
  readonly reconciler: Reconciler;
  private readonly held = new Map<string, Held>();
  private readonly remote = new Map<PipelineStage, QueueEvents>();
  private readonly tally = { stalledTakeovers: 0, fenceRejections: 0, staleSkipped: 0 };
  private closing: Promise<void> | null = null;

  constructor(
    private readonly pool: Pool,
    private readonly opts: BullmqJobQueueOptions,
  ) {
    this.events.setMaxListeners(0);
    const onError = (err: unknown) => opts.logger.warn({ err }, 'pipeline queue');
    this.queues = new StageQueues(opts.redis, () => this.tally.stalledTakeovers++, onError);
    this.relay = new OutboxRelay(pool, this.queues, new TenantWeights(opts.limits), {
      intervalMs: opts.relayIntervalMs,
      onError,
      onSent: (stage) => this.events.emit('runnable', stage),
    });
    this.reconciler = new Reconciler(pool, this.queues, this.relay, {
      intervalMs: opts.reconcileIntervalMs,
      graceMs: opts.reconcileGraceMs,
      clock: opts.clock,
      onError,
    });
  }

  /**
   * Starts the relay's and the reconciler's timers; idempotent. Without them the queue still
   * works, but only hands rows to BullMQ when kicked, and never repairs what Redis lost.
   */
  start(): void {
    this.relay.start();
    this.reconciler.start();
  }

  async enqueue(job: NewJob): Promise<string> {
    const row = (
      await this.pool.query<SQL.PipelineRow>(SQL.UPSERT, [
        job.documentId, job.scope.tenantId, job.scope.kbId, job.taskId, job.stage, this.opts.maxAttempts,
        job.traceContext ?? null, job.priority ?? 100,
      ])
    ).rows[0]!;
    await this.relay.kick();
    return SQL.bullJobId(row);
  }

  /** createDocument (or revive) wrote an unsent row: have the relay hand it to BullMQ now. */
  notifyRunnable(_stage: PipelineStage): void {
    void this.relay.kick();
  }

  async lease(stages: readonly PipelineStage[], owner: string, leaseMs: number): Promise<LeasedJob | null> {
    for (const stage of stages) {
      const job = await this.leaseFrom(stage, owner, leaseMs);
      if (job) return job;
    }
    return null;
  }

  private async leaseFrom(stage: PipelineStage, owner: string, leaseMs: number): Promise<LeasedJob | null> {
    this.prune();
    const worker = this.queues.worker(stage, leaseMs);
    await this.listenRemote(stage);
    for (let skips = 0; skips < MAX_SKIPS; skips++) {
      const token = `${owner}:${randomUUID()}`;
      const bull = (await worker.getNextJob(token, { block: false })) as Job<SQL.JobData> | undefined;
      if (!bull) return null;
      const { documentId, generation } = bull.data;
      // The worker's lockDuration was the first caller's leaseMs; this lease may want another.
      // Extended while the claim runs, so a short first lease cannot lapse in between.
      const extended = bull.extendLock(token, leaseMs).catch(() => 0);
      // Should the claim throw (PostgreSQL away), the job stays locked until its lock lapses and
      // the stalled check hands it out again: nothing is lost, the lease is only late.
      const row = (await this.pool.query<SQL.PipelineRow>(SQL.CLAIM, [documentId, stage, generation, owner])).rows[0];
      await extended;
      if (!row) {
        this.tally.staleSkipped++;
        await this.settleBull(bull, token, 'completed');
        continue;
      }
      this.held.set(token, { bull, owner, documentId, fence: row.fence, expiresAt: Date.now() + leaseMs });
      return {
        id: bull.id ?? SQL.bullJobId(row),
        scope: { tenantId: row.tenant_id, kbId: row.kb_id },
        documentId,
        taskId: row.task_id,
        stage,
        priority: row.priority,
        traceContext: row.trace_context,
        attempts: row.attempts,
        maxAttempts: row.max_attempts,
        leaseToken: token,
        leaseExpiresAt: Date.now() + leaseMs,
        lastError: row.last_error,
        fence: row.fence,
      };
    }
    return null;
  }

  /** Acknowledges a BullMQ job this process holds; a lock already lost makes it a no-op. */
  private async settleBull(bull: Job<SQL.JobData>, token: string, how: 'completed' | 'failed', error?: string): Promise<void> {
    try {
      if (how === 'completed') await bull.moveToCompleted(null, token, false);
      else await bull.moveToFailed(new Error(error ?? 'failed'), token, false);
    } catch (err) {
      // Lock lapsed (the job was taken over or Redis lost it): the row, not this job, is what counts.
      this.opts.logger.debug({ err, job: bull.id }, 'could not settle a BullMQ job');
    }
  }

  private fenceOf(job: LeasedJob): number {
    const fence = job.fence ?? this.held.get(job.leaseToken)?.fence;
    if (fence === undefined) throw new Error(`job ${job.id} was not leased from this queue`);
    return fence;
  }

  /** Passes `ok` through, counting a refusal (the fence had moved on). */
  private tallyRefusal(ok: boolean): boolean {
    if (!ok) this.tally.fenceRejections++;
    return ok;
  }

  async heartbeat(job: LeasedJob, leaseMs: number): Promise<boolean> {
    const holds = (await this.pool.query(SQL.HOLDS, [job.documentId, this.fenceOf(job)])).rowCount === 1;
    const kept = this.tallyRefusal(holds) && (await this.extend(job.leaseToken, leaseMs));
    // A lost lease is never settled by the pipeline (it stops the stage): forget it here.
    if (!kept) this.held.delete(job.leaseToken);
    return kept;
  }

  private async extend(token: string, leaseMs: number): Promise<boolean> {
    const h = this.held.get(token);
    if (!h) return false;
    try {
      // Resolves to 0 (or throws) when the lock is not ours any more: BullMQ may hand it out again.
      const kept = Number(await h.bull.extendLock(token, leaseMs)) !== 0;
      if (kept) h.expiresAt = Date.now() + leaseMs;
      return kept;
    } catch {
      return false;
    }
  }

  /**
   * Forgets leases the pipeline dropped without settling (a stage aborted because its document
   * was deleted): their lock lapsed long ago and the stalled check has handed the job on.
   */
  private prune(): void {
    const before = Date.now() - FORGET_AFTER_MS;
    for (const [token, h] of this.held) if (h.expiresAt < before) this.held.delete(token);
  }

  async complete(job: LeasedJob, next: NewJob | null): Promise<boolean> {
    const fence = this.fenceOf(job);
    let ok: boolean;
    if (next) {
      const moved = await this.pool.query(SQL.ADVANCE, [job.documentId, fence, next.stage, next.priority ?? 100, next.traceContext ?? null]);
      ok = moved.rowCount === 1;
    } else {
      // The index commit deletes the row in its own (fenced) transaction; no row left means the
      // document is done (or deleted): nothing for anyone to run. A row with another fence means
      // this attempt was taken over.
      const gone = await this.pool.query(SQL.FINISH, [job.documentId, fence]);
      ok = gone.rowCount === 1 || (await this.pool.query(SQL.EXISTS, [job.documentId])).rowCount === 0;
    }
    await this.release1(job.leaseToken, 'completed');
    if (ok && next) await this.relay.kick();
    return this.tallyRefusal(ok);
  }

  async fail(job: LeasedJob, error: string, retryAt: number | null): Promise<boolean> {
    const fence = this.fenceOf(job);
    const res =
      retryAt === null
        ? await this.pool.query(SQL.BURY, [job.documentId, fence, error])
        : await this.pool.query(SQL.RETRY, [job.documentId, fence, error, retryAt]);
    const ok = res.rowCount === 1;
    // A retry is a new generation with its own (delayed) BullMQ job; this one is done either way.
    await this.release1(job.leaseToken, retryAt === null ? 'failed' : 'completed', error);
    if (ok && retryAt !== null) await this.relay.kick();
    return this.tallyRefusal(ok);
  }

  async postpone(job: LeasedJob, reason: string, runAt: number): Promise<boolean> {
    const ok = (await this.pool.query(SQL.POSTPONE, [job.documentId, this.fenceOf(job), reason, runAt])).rowCount === 1;
    await this.release1(job.leaseToken, 'completed');
    if (ok) await this.relay.kick();
    return this.tallyRefusal(ok);
  }

  private async release1(token: string, how: 'completed' | 'failed', error?: string): Promise<void> {
    const h = this.held.get(token);
    if (!h) return;
    this.held.delete(token);
    await this.settleBull(h.bull, token, how, error);
  }

  async revive(scope: Scope, documentId: string): Promise<PipelineStage | null> {
    const row = (await this.pool.query<{ stage: PipelineStage }>(SQL.REVIVE, [documentId, scope.tenantId, scope.kbId])).rows[0];
    return row?.stage ?? null;
  }

  async cancelDocument(documentId: string): Promise<number> {
    const rows = (await this.pool.query<{ document_id: string; stage: PipelineStage; generation: number }>(SQL.CANCEL, [documentId])).rows;
    for (const r of rows) {
      // A job being worked on is locked and stays; its claim finds no row and it is skipped.
      await this.queues.queue(r.stage).remove(SQL.bullJobId(r)).catch(() => 0);
    }
    return rows.length;
  }

  async release(owner: string): Promise<number> {
    let n = 0;
    for (const [token, h] of [...this.held]) {
      if (h.owner !== owner) continue;
      const res = await this.pool.query(SQL.HAND_BACK, [h.documentId, h.fence]);
      n += res.rowCount ?? 0;
      await this.release1(token, 'completed');
    }
    if (n > 0) {
      await this.relay.kick();
      this.events.emit('runnable', null);
    }
    return n;
  }

  /** BullMQ's stalled check (a timer per stage worker) takes over dead workers' jobs by itself. */
  async reclaimDead(_isAlive: (owner: string) => boolean): Promise<number> {
    return 0;
  }

  async counts(): Promise<Record<PipelineStage, StageCounts>> {
    const depth = await this.depth();
    const out = {} as Record<PipelineStage, StageCounts>;
    for (const stage of STAGES) {
      const d = depth[stage];
      out[stage] = { waiting: d.waiting + d.prioritized + d.delayed, active: d.active, failed: d.failed };
    }
    return out;
  }

  /** Depth by stage and state: BullMQ's counts, and buried rows from PostgreSQL. */
  async depth(): Promise<Record<PipelineStage, StageDepth>> {
    const failed = new Map(
      (await this.pool.query<{ stage: PipelineStage; n: number }>(SQL.FAILED_BY_STAGE)).rows.map((r) => [r.stage, r.n]),
    );
    const entries = await Promise.all(
      STAGES.map(async (stage) => {
        const c = await this.queues.queue(stage).getJobCounts('wait', 'prioritized', 'active', 'delayed');
        const depth: StageDepth = {
          waiting: c.wait ?? 0,
          prioritized: c.prioritized ?? 0,
          active: c.active ?? 0,
          delayed: c.delayed ?? 0,
          failed: failed.get(stage) ?? 0,
        };
        return [stage, depth] as const;
      }),
    );
    return Object.fromEntries(entries) as Record<PipelineStage, StageDepth>;
  }

  /** Counters since this process started, for metrics. */
  counters(): QueueCounters {
    return { ...this.tally, ...this.reconciler.counters, relayed: this.relay.sent };
  }

  onRunnable(listener: (stage: PipelineStage | null) => void): () => void {
    this.events.on('runnable', listener);
    return () => this.events.off('runnable', listener);
  }

  /**
   * Jobs another process adds (or whose delay ends) wake this process's consumers of the stage.
   * Opened by the stage's first lease, which waits until it reads (once per stage and process).
   */
  private async listenRemote(stage: PipelineStage): Promise<void> {
    if (this.opts.remoteWake === false || this.remote.has(stage)) return;
    const qe = new QueueEvents(stage, { connection: this.queues.connection, prefix: this.opts.redis.prefix });
    qe.on('error', (err) => this.opts.logger.warn({ err }, 'pipeline queue events'));
    qe.on('waiting', () => this.events.emit('runnable', stage));
    this.remote.set(stage, qe);
    await qe.waitUntilReady();
  }

  /**
   * Closes what the queue opened, every step even if one fails, after the pipeline has stopped
   * (its release() needs the queue): 1. the timers (a pass under way finishes), 2. the event
   * readers, 3. the workers and queues and their Redis connections. The pool is the caller's.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.allSettled([this.reconciler.close(), this.relay.close()]);
      await Promise.allSettled([...this.remote.values()].map((qe) => qe.close()));
      this.remote.clear();
      await this.queues.close();
      this.events.removeAllListeners();
    })();
    return this.closing;
  }
}
