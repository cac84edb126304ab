/**
 * Issue 16, Low: ragd refuses to start on a damaged database or an unusable data directory, and
 * says which file and what to do, instead of reporting ready or printing only SQLITE_NOTADB.
 */
import assert from 'node:assert/strict';
import { openSync, readSync, writeFileSync, writeSync, closeSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { freePort, runRagd, tempDir } from '../support/server.js';

const serve = async (dataDir: string) => runRagd(['serve', '--data-dir', dataDir, '--port', String(await freePort())], { RAGD_LOG_LEVEL: 'warn' });

describe('start-up checks', { timeout: 120_000 }, () => {
  test('a file that is not a database: named, with what to do', async () => {
    const dir = await tempDir();
    writeFileSync(join(dir, 'ragd.db'), 'this is not a database '.repeat(400));
    const r = await serve(dir);
    assert.notEqual(r.code, 0);
    assert.ok(r.stderr.includes(join(dir, 'ragd.db')), r.stderr);
    assert.match(r.stderr, /backup|move it aside/i);
  });

  test('a database with corrupt pages fails quick_check and does not start', async () => {
    const dir = await tempDir();
    const path = join(dir, 'ragd.db');
    const db = new Database(path);
    db.exec('CREATE TABLE filler (id INTEGER PRIMARY KEY, body TEXT); CREATE INDEX filler_body ON filler (body);');
    const insert = db.prepare('INSERT INTO filler (body) VALUES (?)');
    for (let i = 0; i < 2000; i++) insert.run(`row ${i} ${'x'.repeat(200)}`);
    db.close();
    // Scribble over a page in the middle (not the header): the file still opens, its b-tree is broken.
    const size = statSync(path).size;
    const fd = openSync(path, 'r+');
    const page = Buffer.alloc(4096);
    readSync(fd, page, 0, 4096, 0);
    writeSync(fd, Buffer.alloc(4096, 0xab), 0, 4096, Math.floor(size / 2 / 4096) * 4096);
    closeSync(fd);
    const r = await serve(dir);
    assert.notEqual(r.code, 0, r.stdout);
    assert.ok(r.stderr.includes(path), r.stderr);
    assert.match(r.stderr, /damaged|corrupt/i);
  });

  test('a data directory that is not a directory: named, with what to do', async () => {
    const dir = await tempDir();
    const notADir = join(dir, 'data');
    writeFileSync(notADir, 'x');
    const r = await serve(notADir);
    assert.notEqual(r.code, 0);
    assert.ok(r.stderr.includes(notADir), r.stderr);
    assert.match(r.stderr, /RAGD_DATA_DIR/);
  });
});
