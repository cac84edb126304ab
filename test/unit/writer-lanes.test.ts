import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SqliteWriter } from '../../src/adapters/embedded/sqlite/writer.js';

/**
 * The writer thread runs index commits as background work: they yield to every other write, and
 * the thread itself runs at a lower CPU priority than the event loop and the search threads.
 */
describe('SQLite writer lanes', () => {
  let dir: string;
  let writer: SqliteWriter;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ragd-writer-'));
    writer = new SqliteWriter(join(dir, 'ragd.db'));
  });

  after(async () => {
    await writer.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A real commitIndex over a file of `chunks` chunks; its document does not exist, so it ends in "gone". */
  function commit(chunks: number) {
    const chunksPath = join(dir, `c${chunks}.json`);
    const vectorsPath = join(dir, `c${chunks}.f32`);
    const drafts = Array.from({ length: chunks }, (_, ordinal) => ({ ordinal, text: `chunk ${ordinal} `.repeat(40), tokenCount: 80, headingPath: [], page: null }));
    writeFileSync(chunksPath, JSON.stringify(drafts));
    writeFileSync(vectorsPath, Buffer.alloc(chunks * 8 * 4));
    const scope = { tenantId: 'default', kbId: 'missing' };
    return writer.call('commitIndex', { scope, documentId: 'no-such-document', taskId: 'no-such-task', chunksPath, vectorsPath, embedDim: 8 });
  }

  it('runs a write that arrives behind queued index commits before them', async () => {
    await writer.call('ping'); // the thread is up and has migrated the database
    const order: string[] = [];
    const commits = Array.from({ length: 5 }, (_, i) => commit(2000 + i).then((r) => order.push(`commit${i}:${r === null ? 'gone' : 'indexed'}`)));
    const ping = writer.call('ping').then(() => order.push('ping'));
    assert.ok(writer.queued >= 4, 'the commits behind the first one wait in the bulk lane');
    await Promise.all([...commits, ping]);
    // The first commit was already running; the ping goes next, not after the other four.
    assert.deepEqual(order, ['commit0:gone', 'ping', 'commit1:gone', 'commit2:gone', 'commit3:gone', 'commit4:gone']);
    assert.equal(writer.queued, 0);
  });

  it('still runs commits in their own arrival order, and reports a failing one to its caller', async () => {
    const order: number[] = [];
    const bad = writer.call('commitIndex', {
      scope: { tenantId: 'default', kbId: 'missing' },
      documentId: 'x',
      taskId: 'x',
      chunksPath: join(dir, 'no-such-file.json'),
      vectorsPath: join(dir, 'no-such-file.f32'),
      embedDim: 8,
    });
    const good = [1, 2, 3].map((i) => commit(10 + i).then(() => order.push(i)));
    await assert.rejects(bad, /no-such-file/);
    await Promise.all(good);
    assert.deepEqual(order, [1, 2, 3]);
  });

  it('runs the writer thread at background priority on Linux (RAGD_INGEST_NICE, default 19)', { skip: process.platform !== 'linux' && 'per-thread nice values are a Linux feature' }, () => {
    // Field 19 of /proc/<pid>/task/<tid>/stat is the nice value; only the writer thread lowered its own.
    const niceOf = (tid: string) => {
      const stat = readFileSync(`/proc/${process.pid}/task/${tid}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
    };
    const nices = readdirSync(`/proc/${process.pid}/task`).map(niceOf);
    assert.equal(nices.filter((n) => n === 19).length, 1, `one thread (the writer) at nice 19 among ${JSON.stringify(nices)}`);
    assert.equal(niceOf(String(process.pid)), 0, 'the event loop keeps its priority');
  });
});
