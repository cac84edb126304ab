import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { access, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { BlobStore } from '../../ports/blob-store.js';

/**
 * A temp file untouched this long is an upload nobody is writing any more (its process died).
 * Younger ones may belong to a live upload, on this node or, with a shared directory, another.
 */
export const STALE_TEMP_MS = 60 * 60 * 1000;

/**
 * Blobs as files under `<dir>/blobs`; uploads in flight under `<dir>/tmp` (the same filesystem,
 * so a commit is one atomic rename). `dir` is the data directory, or in cluster mode a directory
 * every node mounts (RAGD_BLOB_DIR): several processes may then use it at once, so nothing here
 * assumes it is alone — temp names are random, a commit never exposes a partial file, and the
 * start-up sweep leaves young temp files (another node's live uploads) alone.
 */
export class FsBlobStore implements BlobStore {
  private readonly root: string;
  private readonly tmp: string;

  constructor(dir: string) {
    this.root = resolve(dir, 'blobs');
    this.tmp = resolve(dir, 'tmp');
    mkdirSync(this.root, { recursive: true });
    mkdirSync(this.tmp, { recursive: true });
  }

  /**
   * Uploads interrupted by a crash leave temp files behind; nothing refers to them. Only files
   * untouched for `olderThanMs` go: a younger one may be a live upload of another process sharing
   * the directory (an upload being written keeps its modification time fresh).
   */
  async sweepTemp(olderThanMs = STALE_TEMP_MS, now = Date.now()): Promise<number> {
    let removed = 0;
    for (const name of await readdir(this.tmp)) {
      const path = join(this.tmp, name);
      const info = await stat(path).catch(() => null);
      if (info && (olderThanMs <= 0 || now - info.mtimeMs >= olderThanMs)) {
        await rm(path, { force: true });
        removed++;
      }
    }
    return removed;
  }

  tempPath(): string {
    return join(this.tmp, `${Date.now()}-${randomBytes(8).toString('hex')}.part`);
  }

  /**
   * Keys are content-addressed, so a key that exists already holds these bytes: the temp file is
   * dropped. Two processes committing one key at once both rename; rename replaces atomically, so
   * a reader sees one whole file or the other, never a part.
   */
  async commitTemp(tempPath: string, key: string): Promise<void> {
    const target = this.pathOf(key);
    if (await this.exists(key)) return this.discardTemp(tempPath);
    // Another process may remove the (empty) parent between mkdir and rename (deletePrefix):
    // make it again and retry, a few times.
    for (let attempt = 1; ; attempt++) {
      await mkdir(dirname(target), { recursive: true });
      try {
        await rename(tempPath, target);
        return;
      } catch (err) {
        const parentGone = (err as NodeJS.ErrnoException).code === 'ENOENT' && (await access(tempPath).then(() => true, () => false));
        if (!parentGone || attempt >= 3) throw err;
      }
    }
  }

  async discardTemp(tempPath: string): Promise<void> {
    await rm(tempPath, { force: true });
  }

  /** Keys are built by ragd, but the check keeps any future mistake from escaping the root. */
  pathOf(key: string): string {
    const path = resolve(this.root, key);
    if (!path.startsWith(this.root + sep)) throw new Error(`blob key escapes the store: ${key}`);
    return path;
  }

  async delete(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }

  async deletePrefix(prefix: string): Promise<void> {
    // Retries: with a shared directory another node may add a file while the tree is removed (ENOTEMPTY).
    await rm(this.pathOf(prefix), { recursive: true, force: true, maxRetries: 3 });
  }

  async exists(key: string): Promise<boolean> {
    return access(this.pathOf(key)).then(
      () => true,
      () => false,
    );
  }
}
