/**
 * The BlobStore port's conformance suite. `describeBlobStore(name, make)` gets two handles on
 * one store — two processes (nodes) that share it, as cluster mode's workers and API nodes do —
 * and checks what each sees of the other's writes. An adapter used by one process only may pass
 * the same handle twice.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { access } from 'node:fs/promises';
import { after, describe, it } from 'node:test';
import type { BlobStore } from '../../src/ports/blob-store.js';

export interface SharedBlobStores {
  /** One node's handle. */
  a: BlobStore;
  /** Another node's handle on the same store. */
  b: BlobStore;
  close(): Promise<void>;
}

const present = (path: string) => access(path).then(() => true, () => false);

/** Streams nothing fancy: writes bytes to a fresh temp path of `store`, as an upload would. */
async function upload(store: BlobStore, bytes: string | Buffer): Promise<string> {
  const temp = store.tempPath();
  await writeFile(temp, bytes);
  return temp;
}

export function describeBlobStore(name: string, make: () => Promise<SharedBlobStores>): void {
  describe(`blob store: ${name}`, () => {
    const opened: SharedBlobStores[] = [];
    const open = async () => {
      const s = await make();
      opened.push(s);
      return s;
    };
    after(async () => {
      for (const s of opened) await s.close();
    });
    const key = (prefix = 'sources/t/kb') => `${prefix}/${randomBytes(8).toString('hex')}`;

    it('a committed upload is under its key, whole, and its temp file is gone', async () => {
      const { a } = await open();
      const temp = await upload(a, 'hello blob');
      const k = key();
      assert.equal(await a.exists(k), false);
      await a.commitTemp(temp, k);
      assert.equal(await a.exists(k), true);
      assert.equal(await readFile(a.pathOf(k), 'utf8'), 'hello blob');
      assert.equal(await present(temp), false);
    });

    it('committing a key that exists keeps its bytes and drops the temp file', async () => {
      const { a } = await open();
      const k = key();
      await a.commitTemp(await upload(a, 'first'), k);
      const second = await upload(a, 'second');
      await a.commitTemp(second, k);
      assert.equal(await readFile(a.pathOf(k), 'utf8'), 'first');
      assert.equal(await present(second), false);
    });

    it('discardTemp removes an upload, and is harmless on one already gone', async () => {
      const { a } = await open();
      const temp = await upload(a, 'never mind');
      await a.discardTemp(temp);
      assert.equal(await present(temp), false);
      await a.discardTemp(temp);
    });

    it('delete removes one key; deletePrefix every key under the prefix and nothing beside it', async () => {
      const { a } = await open();
      const doc = key('stages/t/kb');
      const inside = [`${doc}/parse.json`, `${doc}/chunks/0.json`, `${doc}/chunks/1.json`];
      const beside = `${doc}x/parse.json`;
      for (const k of [...inside, beside]) await a.commitTemp(await upload(a, k), k);
      await a.delete(inside[0]!);
      assert.equal(await a.exists(inside[0]!), false);
      assert.equal(await a.exists(inside[1]!), true);
      await a.deletePrefix(doc);
      for (const k of inside) assert.equal(await a.exists(k), false, k);
      assert.equal(await a.exists(beside), true, 'a key that only shares the string prefix stays');
      await a.delete(inside[0]!); // gone already: harmless
      await a.deletePrefix(doc);
    });

    it('refuses a key that would escape the store', async () => {
      const { a } = await open();
      assert.throws(() => a.pathOf('../outside'));
      assert.throws(() => a.pathOf('sources/../../outside'));
    });

    it('temp paths never collide, within a node or across nodes', async () => {
      const { a, b } = await open();
      const paths = new Set<string>();
      for (let i = 0; i < 500; i++) paths.add(a.tempPath()).add(b.tempPath());
      assert.equal(paths.size, 1000);
    });

    it("one node's commit is readable by the other, and its deletes are seen by the first", async () => {
      const { a, b } = await open();
      const k = key();
      await a.commitTemp(await upload(a, 'written on a'), k);
      assert.equal(await b.exists(k), true);
      assert.equal(await readFile(b.pathOf(k), 'utf8'), 'written on a');
      const stage = key('stages/t/kb');
      await b.commitTemp(await upload(b, 'stage output from b'), `${stage}/parse.json`);
      assert.equal(await readFile(a.pathOf(`${stage}/parse.json`), 'utf8'), 'stage output from b');
      await b.deletePrefix(stage);
      await b.delete(k);
      assert.equal(await a.exists(k), false);
      assert.equal(await a.exists(`${stage}/parse.json`), false);
    });

    it('two nodes committing the same key at once: no error, one whole file, no temp left', async () => {
      const { a, b } = await open();
      // Same key means same content in ragd (content hashes); large enough that a torn write would show.
      const body = randomBytes(256 * 1024);
      for (let round = 0; round < 20; round++) {
        const k = key();
        const [ta, tb] = await Promise.all([upload(a, body), upload(b, body)]);
        await Promise.all([a.commitTemp(ta, k), b.commitTemp(tb, k)]);
        assert.ok((await readFile(a.pathOf(k))).equals(body));
        assert.equal(await present(ta), false);
        assert.equal(await present(tb), false);
      }
    });

    it("a commit under a prefix another node is deleting neither fails nor leaves the upload behind", async () => {
      const { a, b } = await open();
      for (let round = 0; round < 30; round++) {
        const doc = key('stages/t/kb');
        await b.commitTemp(await upload(b, 'old'), `${doc}/old.json`);
        const temp = await upload(a, 'new');
        await Promise.all([a.commitTemp(temp, `${doc}/new.json`), b.deletePrefix(doc)]);
        assert.equal(await present(temp), false);
      }
    });
  });
}
