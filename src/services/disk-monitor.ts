import { statfsSync } from 'node:fs';

type StatFs = (path: string) => { bavail: number | bigint; bsize: number | bigint };

/**
 * Free space on the data directory's file system, read every few seconds (one statfs call). Below
 * `minFreeBytes` the disk counts as low: /readyz fails its `disk` check, the metrics say so, and
 * the pipeline stops taking jobs (a stage that cannot write would fail its document for nothing).
 * Uploads still get their own 507 when a write fails; deletes, which free space, go on.
 */
export class DiskMonitor {
  private free = Number.POSITIVE_INFINITY;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly path: string,
    readonly minFreeBytes: number,
    private readonly statfs: StatFs = statfsSync,
    intervalMs = 5_000,
  ) {
    this.refresh();
    this.timer = setInterval(() => this.refresh(), intervalMs);
    this.timer.unref();
  }

  refresh(): void {
    try {
      const s = this.statfs(this.path);
      this.free = Number(s.bavail) * Number(s.bsize);
    } catch {
      // Unknown is not low: a statfs failure must not stop the pipeline by itself.
      this.free = Number.POSITIVE_INFINITY;
    }
  }

  get freeBytes(): number {
    return this.free;
  }

  get low(): boolean {
    return this.free < this.minFreeBytes;
  }

  close(): void {
    clearInterval(this.timer);
  }
}
