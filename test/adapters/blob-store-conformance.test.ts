/**
 * The BlobStore conformance suite on FsBlobStore: one instance alone (embedded), and two
 * instances on one directory, as two nodes mounting a shared RAGD_BLOB_DIR would. Then what only
 * the file store has: its start-up sweep of temp files, which must leave another live node's
 * uploads alone.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { access, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { FsBlobStore, STALE_TEMP_MS } from '../../src/adapters/embedded/fs-blob-store.js';
import { describeBlobStore } from '../contract/blob-store.contract.js';

const present = (path: string) => access(path).then(() => true, () => false);

describeBlobStore('FsBlobStore, one process', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ragd-blobs-'));
  const store = new FsBlobStore(dir);
  return { a: store, b: store, close: async () => rmSync(dir, { recursive: true, force: true }) };
});

describeBlobStore('FsBlobStore, two instances on one shared directory', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ragd-blobs-shared-'));
  return { a: new FsBlobStore(dir), b: new FsBlobStore(dir), close: async () => rmSync(dir, { recursive: true, force: true }) };
});

describe('FsBlobStore: the temp sweep on a shared directory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ragd-blobs-sweep-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("a node starting up removes stale temp files only, never another node's live upload", async () => {
    const running = new FsBlobStore(dir);
    const live = running.tempPath();
    await writeFile(live, 'an upload still being written');
    const stale = running.tempPath();
    await writeFile(stale, 'left by a process that died');
    const old = new Date(Date.now() - STALE_TEMP_MS - 60_000);
    await utimes(stale, old, old);

    const starting = new FsBlobStore(dir);
    assert.equal(await starting.sweepTemp(), 1);
    assert.equal(await present(live), true, 'the live upload survives');
    assert.equal(await present(stale), false);
    await running.commitTemp(live, 'sources/t/kb/live');
    assert.equal(await starting.exists('sources/t/kb/live'), true);
  });

  it('a sweep with a shorter age (a process that knows it is alone) removes younger files too', async () => {
    const store = new FsBlobStore(dir);
    const temp = store.tempPath();
    await writeFile(temp, 'x');
    assert.equal(await store.sweepTemp(0), 1);
    assert.equal(await present(temp), false);
  });
});
