import { EventEmitter } from 'node:events';
import type { Span } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { isDiskFull, isPermanent } from '../../domain/errors.js';
import { STAGE_STATUS, STAGES, type DocumentStatus, type PipelineStage, type TaskStatus, type TaskView } from '../../domain/types.js';
import type { EventBus } from '../../ports/event-bus.js';
import type { JobQueue, LeasedJob, NewJob, StageStart } from '../../ports/job-queue.js';
import { stagePrefix } from './stage-files.js';
import { runStage, type StageDeps } from './stages.js';
import type { JobOutcome, PipelineEvents } from './events.js';
import { backoffMs, isOwnerAlive, newOwnerId } from './owner.js';
import { failSpan, restoreTraceContext, SpanKind, withSpan } from '../../observability/tracing.js';

export interface PipelineOptions {
  concurrency: Record<PipelineStage, number>;
  leaseMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** How often idle slots look for due retries and expired leases, besides being woken. */
  pollMs?: number;
  /** How long leasing pauses after a stage finds the disk full (default 30 s). */
  diskFullPauseMs?: number;
}

interface Running {
  job: LeasedJob;
  controller: AbortController;
  done: Promise<void>;
}

/** A leased job, and the task view its lease already recorded as started (see lease()). */
interface Leased {
  job: LeasedJob;
  /** Undefined: not recorded yet, the pipeline announces the start itself. */
  started?: { task: TaskView | null };
}

/** Before a retried stage's previous error on its task. */
const RETRY_NOTE = 'retrying after: ';

/**
 * Drives documents through parse → chunk → embed → index. Each stage has its own slots that
 * lease jobs from the durable queue, heartbeat while they work, and settle the job when done:
 * complete (enqueueing the next stage atomically), retry with backoff, or fail the document.
 * A process that dies mid-stage leaves a lease that expires; another slot takes the job over.
 */
export class PipelineService {
  readonly owner = newOwnerId();
  readonly events = new EventEmitter<PipelineEvents>();
  private running = false;
  private readonly inFlight = new Map<string, Running>();
  private readonly slots: Promise<void>[] = [];
  /**
   * The idle slots' wake-up calls, by stage; each leaves its set when its slot wakes, whichever
   * way. One runnable job wakes one idle slot of its stage: waking them all sent every idle slot
   * of every stage to the writer thread for a lease that all but one came back from empty (seven
   * lease transactions per document, most of them for nothing).
   */
  private readonly wakers = new Map<PipelineStage, Set<() => void>>(STAGES.map((s) => [s, new Set()]));
  private unsubscribeRunnable: (() => void) | null = null;
  /** Until when no new job is leased: the disk was full (see diskFull()). */
  private pausedUntil = 0;

  constructor(
    private readonly deps: StageDeps & { queue: JobQueue; bus: EventBus; logger: Logger; diskLow?: () => boolean },
    private readonly opts: PipelineOptions,
  ) {}

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const reclaimed = await this.deps.queue.reclaimDead((owner) => isOwnerAlive(owner, this.owner));
    if (reclaimed > 0) this.deps.logger.info({ reclaimed }, 'took over jobs of a process that died');
    this.unsubscribeRunnable = this.deps.queue.onRunnable((stage) => (stage ? this.wakeOne(stage) : this.wakeAll()));
    for (const stage of STAGES) {
      for (let i = 0; i < this.opts.concurrency[stage]; i++) this.slots.push(this.slot(stage));
    }
  }

  /**
   * Stops leasing, lets running stages finish until `deadline`, then aborts the rest and hands
   * their leases back so another worker can take them at once.
   */
  async stop(deadlineMs: number): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.unsubscribeRunnable?.();
    this.wakeAll();
    // Every slot ends once its current stage does; whatever still runs at the deadline is aborted.
    const deadline = setTimeout(() => {
      for (const r of this.inFlight.values()) r.controller.abort(new Error('shutting down'));
    }, deadlineMs);
    await Promise.all(this.slots);
    clearTimeout(deadline);
    const released = await this.deps.queue.release(this.owner);
    if (released > 0) this.deps.logger.info({ released }, 'handed back job leases');
  }

  /** The document was deleted: stop its running stage now. */
  cancel(documentId: string): void {
    for (const r of this.inFlight.values()) {
      if (r.job.documentId === documentId) r.controller.abort(new Error('document deleted'));
    }
  }

  get activeJobs(): number {
    return this.inFlight.size;
  }

  private wakeAll(): void {
    for (const set of this.wakers.values()) for (const w of [...set]) w();
  }

  private wakeOne(stage: PipelineStage): void {
    const first = this.wakers.get(stage)?.values().next();
    if (first && !first.done) first.value();
  }

  /** Until woken, or until the poll interval passes (due retries and expired leases need no wake-up). */
  private idle(stage: PipelineStage): Promise<void> {
    const wakers = this.wakers.get(stage)!;
    return new Promise((resolve) => {
      // A slot that wakes by its timer removes its waker too: left in place, every idle second
      // of every slot would keep one (and its timer) until the next upload woke them all.
      const wake = () => {
        clearTimeout(timer);
        wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, this.opts.pollMs ?? 1000);
      wakers.add(wake);
    });
  }

  /** Slots waiting in idle() right now: for tests. */
  get idleSlots(): number {
    let n = 0;
    for (const set of this.wakers.values()) n += set.size;
    return n;
  }

  private async slot(stage: PipelineStage): Promise<void> {
    while (this.running) {
      // Out of disk space: every stage would fail and burn its document's attempts. Wait instead.
      if (Date.now() < this.pausedUntil || this.deps.diskLow?.() === true) {
        await this.idle(stage);
        continue;
      }
      let leased: Leased | null = null;
      try {
        leased = await this.lease(stage);
      } catch (err) {
        this.deps.logger.error({ err, stage }, 'leasing a job failed');
      }
      if (!leased) {
        await this.idle(stage);
        continue;
      }
      const { job } = leased;
      // Leased while stop() began (the lease was already on its way): not run, so the release()
      // at the end of stop() hands it back (its task may read as started until it runs again).
      if (!this.running) break;
      const controller = new AbortController();
      const done = this.process(leased, controller.signal);
      this.inFlight.set(job.id, { job, controller, done });
      await done;
      this.inFlight.delete(job.id);
    }
  }

  /**
   * The next job of `stage`. A queue that shares the store's database records the stage as
   * started in the lease's own transaction: one writer round trip a stage instead of two.
   */
  private async lease(stage: PipelineStage): Promise<Leased | null> {
    const { queue } = this.deps;
    if (!queue.leaseAndStart) {
      const job = await queue.lease([stage], this.owner, this.opts.leaseMs);
      return job && { job };
    }
    const start: StageStart = { status: STAGE_STATUS[stage], stage, progress: { done: STAGES.indexOf(stage), total: STAGES.length }, retryNote: RETRY_NOTE };
    const r = await queue.leaseAndStart([stage], this.owner, this.opts.leaseMs, start);
    return r && { job: r.job, started: { task: r.task } };
  }

  /** Runs one leased job in a span that continues the trace of the upload that started it. */
  private async process({ job, started: recorded }: Leased, signal: AbortSignal): Promise<void> {
    const started = performance.now();
    const outcome = await withSpan(
      `pipeline ${job.stage}`,
      {
        parent: restoreTraceContext(job.traceContext),
        kind: SpanKind.CONSUMER,
        attributes: { 'ragd.stage': job.stage, 'ragd.document_id': job.documentId, 'ragd.task_id': job.taskId, 'ragd.attempt': job.attempts },
      },
      (span) => this.runJob(job, recorded, signal, span),
    );
    this.events.emit('jobSettled', { stage: job.stage, outcome, seconds: (performance.now() - started) / 1000 });
  }

  private async runJob(job: LeasedJob, recorded: Leased['started'], signal: AbortSignal, span: Span | null): Promise<JobOutcome> {
    const log = this.deps.logger.child({ job: job.id, stage: job.stage, document_id: job.documentId, task_id: job.taskId });
    if (job.attempts > job.maxAttempts) {
      // Every attempt so far died with its worker (leases expired): give up on the document.
      const err = new Error(job.lastError ?? 'the worker running this stage was lost repeatedly');
      if (span) failSpan(span, err);
      return this.settleFailure(job, err, true, log);
    }
    const controller = new AbortController();
    signal.addEventListener('abort', () => controller.abort(signal.reason), { once: true });
    const heartbeat = setInterval(() => {
      this.deps.queue.heartbeat(job, this.opts.leaseMs).then(
        (kept) => {
          if (!kept) controller.abort(new Error('lease lost'));
        },
        (err: unknown) => log.warn({ err }, 'heartbeat failed'),
      );
    }, Math.max(50, Math.floor(this.opts.leaseMs / 3)));
    const started = Date.now();
    try {
      if (recorded) await this.publish(job, recorded.task);
      else {
        await this.announce(job, {
          status: STAGE_STATUS[job.stage],
          stage: job.stage,
          taskStatus: 'running',
          error: job.lastError ? `${RETRY_NOTE}${job.lastError}` : null,
        });
      }
      const outcome = await runStage(this.deps, job, controller.signal, (done, total) =>
        this.announce(job, { status: STAGE_STATUS[job.stage], stage: job.stage, taskStatus: 'running', error: null, progress: { done, total } }),
      );
      if (outcome.kind === 'gone') {
        // A fenced-out attempt also lands here (its index commit wrote nothing); its lease was
        // taken over, and the new holder may still be reading the stage files: leave them.
        if (await this.deps.queue.complete(job, null)) await this.deps.blobs.deletePrefix(stagePrefix(job.scope, job.documentId));
        return 'cancelled';
      }
      const next = nextJob(job, outcome.kind === 'next' ? outcome.skip : undefined);
      const kept = await this.deps.queue.complete(job, next);
      if (!kept) {
        log.warn('lease lost before the stage was recorded; its new owner will redo it');
        return 'lost';
      }
      if (outcome.kind === 'indexed') {
        await this.deps.bus.publish({ tenantId: job.scope.tenantId, kbId: job.scope.kbId, task: outcome.task });
        await this.deps.blobs.deletePrefix(stagePrefix(job.scope, job.documentId));
      }
      log.debug({ ms: Date.now() - started }, 'stage done');
      return 'succeeded';
    } catch (err) {
      if (controller.signal.aborted && !this.running) {
        log.info('stage interrupted by shutdown; its lease is handed back');
        return 'cancelled';
      }
      if (controller.signal.aborted) {
        log.info({ reason: String(controller.signal.reason) }, 'stage cancelled');
        return 'cancelled';
      }
      if (span) failSpan(span, err);
      if (isDiskFull(err)) return await this.diskFull(job, err, log);
      return await this.settleFailure(job, err, isPermanent(err), log);
    } finally {
      clearInterval(heartbeat);
    }
  }

  /**
   * A stage ran out of disk space: the document is not at fault. Its job is put back (due after
   * the pause, its attempt given back, so no number of full disks buries it), and the whole pipeline pauses leasing, so documents
   * wait for space instead of failing one after another and flooding the log.
   */
  private async diskFull(job: LeasedJob, err: unknown, log: Logger): Promise<JobOutcome> {
    const pauseMs = this.opts.diskFullPauseMs ?? 30_000;
    const first = Date.now() >= this.pausedUntil;
    this.pausedUntil = Date.now() + pauseMs;
    if (first) log.error({ err: err instanceof Error ? err.message : String(err), pause_ms: pauseMs }, 'disk full: pipeline paused');
    try {
      const kept = await this.deps.queue.postpone(job, 'waiting for disk space', this.pausedUntil);
      return kept ? 'retrying' : 'lost';
    } catch {
      return 'lost';
    }
  }

  private async settleFailure(job: LeasedJob, err: unknown, permanent: boolean, log: Logger): Promise<JobOutcome> {
    // Errors from the writer thread arrive structured-cloned, not always as Error instances.
    const message =
      err instanceof Error ? err.message : typeof (err as { message?: unknown })?.message === 'string' ? (err as { message: string }).message : String(err);
    const last = permanent || job.attempts >= job.maxAttempts;
    const retryAt = last ? null : Date.now() + backoffMs(job.attempts, this.opts.backoffBaseMs, this.opts.backoffMaxMs);
    try {
      const kept = await this.deps.queue.fail(job, message, retryAt);
      if (!kept) return 'lost';
      if (last) {
        log.warn({ err: message, attempts: job.attempts }, 'document failed');
        await this.announce(job, { status: 'failed', stage: job.stage, taskStatus: 'failed', error: `${job.stage}: ${message}` });
      } else {
        log.info({ err: message, attempts: job.attempts, retry_in_ms: retryAt! - Date.now() }, 'stage failed; will retry');
        await this.announce(job, {
          status: STAGE_STATUS[job.stage],
          stage: job.stage,
          taskStatus: 'running',
          error: `attempt ${job.attempts} of ${job.maxAttempts} failed: ${message}`,
        });
      }
      return last ? 'failed' : 'retrying';
    } catch (settleErr) {
      log.error({ err: settleErr }, 'could not record a stage failure; the lease will expire and the job rerun');
      return 'lost';
    }
  }

  private async announce(
    job: LeasedJob,
    t: { status: DocumentStatus; stage: PipelineStage; taskStatus: TaskStatus; error: string | null; progress?: { done: number; total: number } },
  ): Promise<void> {
    const done = STAGES.indexOf(job.stage);
    const task = await this.deps.store.transition({
      scope: job.scope,
      documentId: job.documentId,
      taskId: job.taskId,
      status: t.status,
      stage: t.stage,
      taskStatus: t.taskStatus,
      progress: t.progress ?? { done, total: STAGES.length },
      error: t.error,
    });
    await this.publish(job, task);
  }

  private async publish(job: LeasedJob, task: TaskView | null): Promise<void> {
    if (task) await this.deps.bus.publish({ tenantId: job.scope.tenantId, kbId: job.scope.kbId, task });
  }
}

function nextJob(job: LeasedJob, skip?: PipelineStage): NewJob | null {
  const i = STAGES.indexOf(job.stage);
  const stage = STAGES[i + 1] === skip ? STAGES[i + 2] : STAGES[i + 1];
  return stage
    ? { scope: job.scope, documentId: job.documentId, taskId: job.taskId, stage, priority: job.priority, traceContext: job.traceContext ?? null }
    : null;
}
