import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import type { TaskView } from '../../domain/types.js';
import type { FileEntry } from './files.js';

/** The part of a task view the CLI shows. */
export type TaskState = Pick<TaskView, 'status' | 'stage' | 'progress' | 'error' | 'version'>;

export const isFinal = (t: TaskState) => t.status === 'succeeded' || t.status === 'failed';

export interface View {
  update(file: FileEntry, status: string, task: TaskState | null): void;
  settle(file: FileEntry, ok: boolean, error?: string): void;
  /** Files whose upload waits for room in the server's ingestion backlog. */
  waiting(count: number): void;
  stop(): void;
}

const NAME_WIDTH = 32;
const fit = (s: string) => (s.length > NAME_WIDTH ? `…${s.slice(-(NAME_WIDTH - 1))}` : s.padEnd(NAME_WIDTH));

/**
 * In a terminal: one bar per file in flight (stage and stages done) under an overall bar;
 * finished files leave their bar, failures are logged above. Otherwise (a pipe, CI logs): one
 * line per state change of each file.
 */
export function createView(files: FileEntry[], tty: boolean): View {
  const total = files.length;
  let settled = 0;
  let failed = 0;
  const width = String(total).length;
  if (!tty) {
    const lastStatus = new Map<FileEntry, string>();
    const line = (file: FileEntry, text: string) => console.log(`[${String(settled).padStart(width)}/${total}] ${file.label}: ${text}`);
    let shownWaiting = 0;
    return {
      update(file, status, task) {
        const text = task && !isFinal(task) && task.status !== 'queued' ? `${status} (${task.progress.done}/${task.progress.total})` : status;
        if (lastStatus.get(file) === text || status === 'ready' || status === 'failed') return;
        lastStatus.set(file, text);
        line(file, text);
      },
      settle(file, ok, error) {
        settled++;
        if (!ok) failed++;
        line(file, ok ? 'ready' : `failed: ${error ?? 'unknown error'}`);
      },
      waiting(count) {
        // One line when files start or stop waiting, not one per change.
        if ((count === 0) === (shownWaiting === 0)) return;
        shownWaiting = count;
        console.log(count > 0 ? `[${String(settled).padStart(width)}/${total}] the server's ingestion backlog is full: files waiting for room` : `[${String(settled).padStart(width)}/${total}] uploading again`);
      },
      stop() {},
    };
  }

  const multibar = new MultiBar(
    {
      format: '{name} {bar} {status} {value}/{total}',
      barsize: 24,
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      autopadding: true,
      stream: process.stdout,
    },
    Presets.shades_classic,
  );
  const overall = multibar.create(total, 0, { name: fit('all files'), status: 'settled' });
  const bars = new Map<FileEntry, SingleBar>();
  let waitingNow = 0;
  const overallStatus = () =>
    (failed > 0 ? `settled (${failed} failed)` : 'settled') + (waitingNow > 0 ? ` · ${waitingNow} waiting for room` : '');
  return {
    update(file, status, task) {
      let bar = bars.get(file);
      if (!bar) {
        bar = multibar.create(task?.progress.total ?? 4, 0, { name: fit(file.label), status });
        bars.set(file, bar);
      }
      bar.update(task?.progress.done ?? 0, { status: status.padEnd(10) });
    },
    settle(file, ok, error) {
      settled++;
      if (!ok) {
        failed++;
        multibar.log(`failed ${file.label}: ${error ?? 'unknown error'}\n`);
      }
      const bar = bars.get(file);
      if (bar) {
        multibar.remove(bar);
        bars.delete(file);
      }
      overall.update(settled, { status: overallStatus() });
    },
    waiting(count) {
      waitingNow = count;
      overall.update(settled, { status: overallStatus() });
    },
    stop() {
      multibar.stop();
    },
  };
}
