import type { DocumentStatus, PipelineStage, Scope, TaskView } from '../domain/types.js';

/**
 * The durable pipeline queue. Embedded: a job table in SQLite. Cluster: BullMQ on Redis.
 * Shaped after BullMQ's split: producers `enqueue`, consumers `lease` and then settle the job.
 * Every settle call is fenced by the lease token, so a worker whose lease was taken over cannot
 * complete or fail a job it no longer owns.
 */

export interface NewJob {
  scope: Scope;
  documentId: string;
  taskId: string;
  stage: PipelineStage;
  /** Lower runs first. */
  priority?: number;
  /**
   * The trace this job continues (serialised W3C trace context), carried from stage to stage
   * so one trace spans the request and every stage of its document. Null when untraced.
   */
  traceContext?: string | null;
}

export interface LeasedJob extends NewJob {
  id: string;
  attempts: number;
  maxAttempts: number;
  leaseToken: string;
  leaseExpiresAt: number;
  /** The previous attempt's error, if any. */
  lastError: string | null;
  /**
   * Cluster: the fence this attempt claimed on the document's PostgreSQL row; the index commit
   * passes it on (IndexCommit.fence) so a stale attempt commits nothing. Embedded: absent.
   */
  fence?: number;
}

/** How a stage records itself as started on its document and task (see JobQueue.leaseAndStart). */
export interface StageStart {
  status: DocumentStatus;
  stage: PipelineStage;
  progress: { done: number; total: number };
  /** The task's error becomes this followed by the previous attempt's error; none without one. */
  retryNote: string;
}

export interface StageCounts {
  waiting: number;
  active: number;
  failed: number;
}

export interface JobQueue {
  enqueue(job: NewJob): Promise<string>;
  /** Takes the next runnable job of one of `stages` (queued and due, or running with an expired lease). */
  lease(stages: readonly PipelineStage[], owner: string, leaseMs: number): Promise<LeasedJob | null>;
  /**
   * Optional: `lease`, and in the same atomic step record the stage as started, as
   * `Store.transition` would: the document's status and stage, its task running with `progress`,
   * error `retryNote + lastError` (null on a first attempt). Returns the task view to publish
   * (null when the document is gone). A job leased past its last attempt is leased without it.
   * Saves the pipeline one writer round trip a stage; without it the pipeline calls `lease` then
   * `Store.transition`, which is correct for a queue that does not share the store's database.
   */
  leaseAndStart?(stages: readonly PipelineStage[], owner: string, leaseMs: number, start: StageStart): Promise<{ job: LeasedJob; task: TaskView | null } | null>;
  /** Extends the lease; false means it was lost (taken over or cancelled): stop working on it. */
  heartbeat(job: LeasedJob, leaseMs: number): Promise<boolean>;
  /** Marks the job done and, in the same atomic step, enqueues the next stage. False if the lease was lost. */
  complete(job: LeasedJob, next: NewJob | null): Promise<boolean>;
  /** Schedules a retry at `retryAt` (epoch ms), or buries the job when `retryAt` is null. */
  fail(job: LeasedJob, error: string, retryAt: number | null): Promise<boolean>;
  /**
   * Puts the job back, due at `runAt` (epoch ms), and gives back the attempt its lease used: the
   * stage did not fail through any fault of the document (the disk was full), so waiting must
   * never bury it. False if the lease was lost.
   */
  postpone(job: LeasedJob, reason: string, runAt: number): Promise<boolean>;
  /**
   * Revives the document's buried job (the stage that failed for good) with fresh attempts, due
   * now, keeping the earlier stages' outputs: the retry starts at the stage that failed. Returns
   * that stage, or null when the document has no buried job (not failed, or already revived).
   * Does not wake consumers: the caller announces the document first, then calls notifyRunnable.
   */
  revive(scope: Scope, documentId: string): Promise<PipelineStage | null>;
  /** Cancels every job of a document (it was deleted). Returns how many were cancelled. */
  cancelDocument(documentId: string): Promise<number>;
  /** Hands back the leases `owner` holds, so another worker can take them at once (graceful shutdown). */
  release(owner: string): Promise<number>;
  /** Expires leases held by owners known to be dead (e.g. a crashed process on this host). */
  reclaimDead(isAlive: (owner: string) => boolean): Promise<number>;
  counts(): Promise<Record<PipelineStage, StageCounts>>;
  /**
   * Tells local consumers that a job of `stage` was added outside `enqueue` (the embedded store
   * inserts a document's first job in the same transaction as the document).
   */
  notifyRunnable(stage: PipelineStage): void;
  /**
   * Called whenever a job becomes runnable in this process, so idle consumers wake without
   * polling: with its stage when one job of one stage did, with null when any number may have
   * (leases handed back or taken over).
   */
  onRunnable(listener: (stage: PipelineStage | null) => void): () => void;
  close(): Promise<void>;
}
