/**
 * A document's pipeline timeline, kept current from the KB's WebSocket feed of task events.
 * Pure, so it is tested without a browser.
 */

export type DocStatus = 'queued' | 'parsing' | 'recognizing' | 'chunking' | 'embedding' | 'indexing' | 'ready' | 'failed';
export type Stage = 'parse' | 'ocr' | 'chunk' | 'embed' | 'index';

// `recognizing` (OCR) is skipped for documents with a text layer: it then reads as done once passed.
export const TIMELINE: readonly DocStatus[] = ['queued', 'parsing', 'recognizing', 'chunking', 'embedding', 'indexing', 'ready'];
const STAGE_STATUS: Record<Stage, DocStatus> = { parse: 'parsing', ocr: 'recognizing', chunk: 'chunking', embed: 'embedding', index: 'indexing' };

export interface DocumentView {
  id: string;
  kb: string;
  name: string;
  type: string;
  status: DocStatus;
  stage: Stage | null;
  progress: { done: number; total: number };
  error: string | null;
  chunks: number;
  bytes: number;
  content_hash: string;
  metadata: Record<string, unknown>;
  task_id: string;
  created_at: string;
  updated_at: string;
}

export interface TaskView {
  id: string;
  kind: 'ingest' | 'retrieve';
  status: 'queued' | 'running' | 'succeeded' | 'failed';
  stage: Stage | null;
  progress: { done: number; total: number };
  error: string | null;
  document_id: string | null;
  version: number;
}

export type StepState = 'done' | 'current' | 'failed' | 'todo';

/** Each timeline step's state for a document: everything before its status is done. */
export function steps(status: DocStatus, stage: Stage | null): { status: DocStatus; state: StepState }[] {
  if (status === 'failed') {
    // Failed at `stage`: the steps before it are done, that one failed.
    const at = stage ? TIMELINE.indexOf(STAGE_STATUS[stage]) : 1;
    return TIMELINE.map((s, i) => ({ status: s, state: i < at ? 'done' : i === at ? 'failed' : 'todo' }));
  }
  const at = TIMELINE.indexOf(status);
  return TIMELINE.map((s, i) => ({ status: s, state: i < at || status === 'ready' ? 'done' : i === at ? 'current' : 'todo' }));
}

/** The document's status as a task event tells it (a retrying stage reads as that stage). */
export function statusOfTask(task: TaskView): DocStatus {
  if (task.status === 'succeeded') return 'ready';
  if (task.status === 'failed') return 'failed';
  if (task.status === 'queued' || !task.stage) return 'queued';
  return STAGE_STATUS[task.stage];
}

/** How many attempts the error says were made (`attempt 2 of 3 failed: …`), if it says. */
export function attemptsOf(error: string | null): { attempt: number; of: number } | null {
  const m = error ? /attempt (\d+) of (\d+)/.exec(error) : null;
  return m ? { attempt: Number(m[1]), of: Number(m[2]) } : null;
}

/**
 * Applies a task event to the documents on screen. Events can arrive out of order across
 * reconnects: an older version never overwrites a newer one. Returns the same array when
 * nothing changed (React skips the render).
 */
export function applyTask(docs: DocumentView[], task: TaskView, seen: Map<string, number>): DocumentView[] {
  if (task.kind !== 'ingest' || !task.document_id) return docs;
  const last = seen.get(task.id) ?? -1;
  if (task.version <= last) return docs;
  const i = docs.findIndex((d) => d.id === task.document_id);
  if (i === -1) return docs;
  seen.set(task.id, task.version);
  const next = docs.slice();
  next[i] = { ...docs[i]!, status: statusOfTask(task), stage: task.stage, progress: task.progress, error: task.error };
  return next;
}
