import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SqliteWriter } from '../../src/adapters/embedded/sqlite/writer.js';

/** Index commits are bulk work: the writer thread runs below the event loop's CPU priority. */
describe('SQLite writer thread priority', () => {
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

  it('runs at nice 19 on Linux (RAGD_INGEST_NICE), while the event loop keeps its priority', { skip: process.platform !== 'linux' && 'per-thread nice values are a Linux feature' }, async () => {
    await writer.call('ping'); // the thread is up
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
