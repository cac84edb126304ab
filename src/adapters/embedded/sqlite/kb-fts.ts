import type { Db } from './open.js';
import { prepareCached } from './statements.js';
import { segmentForIndex } from '../../../text/segment.js';

/**
 * One FTS5 table per knowledge base (`kb_fts_<n>`, n = kbs.fts_no).
 *
 * A single shared table made every search pay for every other KB: MATCH returns the posting
 * lists of the whole server, and each hit had to be joined to `chunks` before the KB filter
 * could drop it, so one tenant's bulk upload slowed every other tenant's questions. It also
 * leaked: BM25's IDF was computed over all tenants' text, so a KB's scores moved when another
 * tenant uploaded. A table per KB keeps both the work and the statistics inside the KB.
 *
 * Contentless (the text lives in `chunks`), with contentless_delete so a document's rows can be
 * removed by rowid. Columns: document title, heading path, chunk body.
 */
export const ftsTable = (ftsNo: number): string => {
  if (!Number.isSafeInteger(ftsNo) || ftsNo < 1) throw new Error(`invalid full-text table number ${ftsNo}`);
  return `kb_fts_${ftsNo}`;
};

export function createFtsTable(db: Db, ftsNo: number): string {
  const table = ftsTable(ftsNo);
  db.exec(
    `CREATE VIRTUAL TABLE IF NOT EXISTS ${table} USING fts5 (
       title, heading, body,
       content = '', contentless_delete = 1,
       tokenize = 'porter unicode61 remove_diacritics 2'
     )`,
  );
  return table;
}

/**
 * Gives a KB its full-text table if it has none yet (a new KB). Numbers are never reused while
 * their table exists: deleting a KB drops its table in the same transaction.
 */
export function ensureKbFts(db: Db, tenantId: string, kbId: string): string {
  const current = ftsNoOf(db, tenantId, kbId);
  if (current === undefined) throw new Error(`no KB ${tenantId}/${kbId}`);
  if (current !== null) return createFtsTable(db, current);
  const next = (db.prepare('SELECT coalesce(max(fts_no), 0) + 1 FROM kbs').pluck().get() as number);
  db.prepare('UPDATE kbs SET fts_no = ? WHERE tenant_id = ? AND id = ?').run(next, tenantId, kbId);
  return createFtsTable(db, next);
}

/** The KB's full-text table, or null when the KB does not exist. */
export function kbFtsTable(db: Db, tenantId: string, kbId: string): string | null {
  const no = ftsNoOf(db, tenantId, kbId);
  return no == null ? null : ftsTable(no);
}

/** The KB's table number: null before it has a table, undefined for an unknown KB. */
function ftsNoOf(db: Db, tenantId: string, kbId: string): number | null | undefined {
  return prepareCached(db, 'SELECT fts_no FROM kbs WHERE tenant_id = ? AND id = ?').pluck().get(tenantId, kbId) as number | null | undefined;
}

/** The row written for a chunk; the migration that moved rows out of the shared table uses it too. */
export const headingText = (headingPath: string[]): string => headingPath.join(' > ');

/**
 * How the text in a KB's full-text table is prepared: 0 = as written (unicode61 alone, which
 * takes a whole Chinese sentence as one token), 1 = segmented by src/text/segment.ts. A KB below
 * the current format is rebuilt from `chunks` in the background at start-up (resegmentStep).
 */
export const FTS_FORMAT = 1;

/** The values of one full-text row (title, heading, body), segmented like the questions will be. */
export const ftsValues = (name: string, headingPath: string[], text: string): [string, string, string] => [
  segmentForIndex(name),
  segmentForIndex(headingText(headingPath)),
  segmentForIndex(text),
];

export interface ResegmentStep {
  tenantId: string;
  kbId: string;
  /** Rowid of the last chunk rewritten; the next call continues after it. */
  last: number;
  /** Rows rewritten by this call. */
  rows: number;
  /** The KB's chunk count when its rebuild started (after = 0), for progress logs. */
  total: number | null;
  /** The KB is now in the current format. */
  finished: boolean;
}

/**
 * One batch of the start-up rebuild: rewrites up to `limit` full-text rows of the first KB below
 * FTS_FORMAT (or of `kb`, when the caller is in the middle of it) from their `chunks` text, in one
 * short transaction, so uploads and questions interleave with the rebuild. Each row is deleted and
 * re-inserted, which is idempotent: a row committed meanwhile by an upload (already segmented) is
 * simply written again, and a restart only redoes the unfinished KB. Null when nothing is left.
 */
export function resegmentStep(db: Db, a: { kb: { tenantId: string; kbId: string } | null; after: number; limit: number }): ResegmentStep | null {
  return db.transaction((): ResegmentStep | null => {
    const pick = 'SELECT tenant_id, id, fts_no FROM kbs WHERE fts_format < ?';
    let kb = a.kb
      ? (db.prepare(`${pick} AND tenant_id = ? AND id = ?`).get(FTS_FORMAT, a.kb.tenantId, a.kb.kbId) as KbFtsRow | undefined)
      : undefined;
    let after = kb ? a.after : 0;
    kb ??= db.prepare(`${pick} ORDER BY tenant_id, id LIMIT 1`).get(FTS_FORMAT) as KbFtsRow | undefined;
    if (!kb) return null;
    const done = (rows: number, last: number, total: number | null): ResegmentStep => {
      db.prepare('UPDATE kbs SET fts_format = ? WHERE tenant_id = ? AND id = ?').run(FTS_FORMAT, kb.tenant_id, kb.id);
      return { tenantId: kb.tenant_id, kbId: kb.id, last, rows, total, finished: true };
    };
    const total =
      after === 0 ? (db.prepare('SELECT count(*) FROM chunks WHERE tenant_id = ? AND kb_id = ?').pluck().get(kb.tenant_id, kb.id) as number) : null;
    if (kb.fts_no === null) return done(0, 0, total);
    const table = createFtsTable(db, kb.fts_no);
    const rows = db
      .prepare(
        `SELECT c.rowid, d.name, c.heading_path, c.text FROM chunks c JOIN documents d ON d.id = c.document_id
         WHERE c.tenant_id = ? AND c.kb_id = ? AND c.rowid > ? ORDER BY c.rowid LIMIT ?`,
      )
      .all(kb.tenant_id, kb.id, after, a.limit) as { rowid: number; name: string; heading_path: string; text: string }[];
    const del = db.prepare(`DELETE FROM ${table} WHERE rowid = ?`);
    const insert = db.prepare(`INSERT INTO ${table} (rowid, title, heading, body) VALUES (?, ?, ?, ?)`);
    for (const r of rows) {
      del.run(r.rowid);
      insert.run(r.rowid, ...ftsValues(r.name, JSON.parse(r.heading_path) as string[], r.text));
      after = r.rowid;
    }
    if (rows.length < a.limit) return done(rows.length, after, total);
    return { tenantId: kb.tenant_id, kbId: kb.id, last: after, rows: rows.length, total, finished: false };
  }).immediate();
}

interface KbFtsRow {
  tenant_id: string;
  id: string;
  fts_no: number | null;
}

/**
 * Migration step: every KB gets its own table, filled from `chunks` (the shared table was
 * contentless, so its text cannot be read back), and the shared table goes.
 */
export function splitSharedFts(db: Db): void {
  db.exec('ALTER TABLE kbs ADD COLUMN fts_no INTEGER');
  const kbs = db.prepare('SELECT tenant_id, id FROM kbs ORDER BY created_at, tenant_id, id').all() as { tenant_id: string; id: string }[];
  // In pages by rowid: better-sqlite3 cannot write while an iterator holds the connection.
  const page = db.prepare(
    `SELECT c.rowid, d.name, c.heading_path, c.text FROM chunks c JOIN documents d ON d.id = c.document_id
     WHERE c.tenant_id = ? AND c.kb_id = ? AND c.rowid > ? ORDER BY c.rowid LIMIT 500`,
  );
  for (const kb of kbs) {
    const table = ensureKbFts(db, kb.tenant_id, kb.id);
    const insert = db.prepare(`INSERT INTO ${table} (rowid, title, heading, body) VALUES (?, ?, ?, ?)`);
    for (let after = 0; ; ) {
      const rows = page.all(kb.tenant_id, kb.id, after) as { rowid: number; name: string; heading_path: string; text: string }[];
      if (rows.length === 0) break;
      for (const r of rows) insert.run(r.rowid, r.name, headingText(JSON.parse(r.heading_path) as string[]), r.text);
      after = rows[rows.length - 1]!.rowid;
    }
  }
  db.exec('DROP TABLE chunks_fts');
}
