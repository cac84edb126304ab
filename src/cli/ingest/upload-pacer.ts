/**
 * Paces `ragd ingest` uploads against the server's backpressure. A full ingestion backlog answers
 * 503 with Retry-After: that is "not now", not "no". Every upload slot then waits together (one
 * shared pause, so the slots do not return as a burst), for the longer of Retry-After and a backoff
 * that doubles with each refusal in a row (jittered, at most MAX_WAIT_MS), and tries again. An
 * accepted upload resets the backoff. The command gives up on a file only when the server has
 * refused it for STALL_MS while nothing anywhere moved (no upload accepted, no document settled).
 */

const BASE_WAIT_MS = 500;
const MAX_WAIT_MS = 30_000;
const STALL_MS = 10 * 60_000;

/** The server refused an upload for now (503 or 429), asking to come back after `retryAfterMs`. */
export class ServerBusyError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs: number | undefined,
  ) {
    super(message);
  }
}

/** Retry-After as seconds or an HTTP date, in ms; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export class UploadPacer {
  private resumeAt = 0;
  private refusalsInARow = 0;
  private lastProgressAt = Date.now();
  /** Files whose upload is waiting for room in the server's backlog now. */
  waiting = 0;

  constructor(private readonly stallMs = STALL_MS) {}

  /** Something moved: an upload was accepted or a document settled. */
  progress(): void {
    this.lastProgressAt = Date.now();
  }

  accepted(): void {
    this.refusalsInARow = 0;
    this.progress();
  }

  /** Records a refusal and returns how long uploads now wait, or null to give up on the file. */
  refused(retryAfterMs: number | undefined): number | null {
    if (Date.now() - this.lastProgressAt > this.stallMs) return null;
    const step = Math.min(MAX_WAIT_MS, BASE_WAIT_MS * 2 ** this.refusalsInARow++);
    const backoff = step / 2 + Math.random() * (step / 2);
    const waitMs = Math.min(MAX_WAIT_MS, Math.max(retryAfterMs ?? 0, backoff));
    this.resumeAt = Math.max(this.resumeAt, Date.now() + waitMs);
    return waitMs;
  }

  /** Resolves when uploads may go again (at once unless the server asked for a pause). */
  async ready(): Promise<void> {
    for (let wait = this.resumeAt - Date.now(); wait > 0; wait = this.resumeAt - Date.now()) {
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}
