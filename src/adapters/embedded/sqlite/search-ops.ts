import type { ChunkHit, SearchFilter } from '../../../ports/store.js';
import type { Db } from './open.js';
import { kbFtsTable } from './kb-fts.js';
import { prepareCached } from './statements.js';
import { segmentQuery } from '../../../text/segment.js';
import { kbKey, vectorTable } from './schema.js';

/**
 * Read-only search queries. They take a connection so they can run wherever the caller decides
 * (a search worker thread, or a read connection): the SQL is the same.
 */

export interface LexicalArgs {
  tenantId: string;
  kbId: string;
  query: string;
  k: number;
  filter?: SearchFilter;
  /** BM25 column weights for title, heading path and body. */
  weights?: [number, number, number];
}

export interface VectorArgs {
  tenantId: string;
  kbId: string;
  vector: Float32Array;
  dim: number;
  k: number;
  filter?: SearchFilter;
}

/**
 * Runs the two searches somewhere other than the caller's thread (the search worker pool), so
 * an FTS5 or KNN scan never blocks the event loop. The store falls back to its own read
 * connection when none is set.
 */
export interface SearchRunner {
  /** `signal`: the query was abandoned; a search not yet started is dropped. */
  lexical(args: LexicalArgs, signal?: AbortSignal): Promise<ChunkHit[]>;
  vector(args: VectorArgs, signal?: AbortSignal): Promise<ChunkHit[]>;
}

/**
 * English function words. They occur in nearly every chunk, so an OR query containing them makes
 * FTS5 score almost the whole index for no gain in ranking (their IDF is ~0): on the SciFact train
 * split dropping them leaves nDCG@10 unchanged (0.7030 vs 0.7028) and cuts query time by a
 * quarter; on conversational questions ("what does … say about …") far more.
 */
const STOPWORDS = new Set(
  (
    'a an and are as at be been being but by can could did do does for from had has have he her his how i if in into ' +
    'is it its may me might must my of on or our shall she should so than that the their them then there these they ' +
    'this those to us was we were what when where which who whom why will with would you your about'
  ).split(' '),
);

/**
 * Turns free text into an FTS5 query: every term (segmented as the index was, see
 * src/text/segment.ts) becomes a quoted term, OR-ed together, so BM25 ranks by how many and how
 * rare the query's terms are. Quoting makes FTS5 syntax in the user's text (AND, NEAR, column
 * filters, quotes) inert. Stopwords are dropped unless the query has nothing else. The cap is
 * generous because a Chinese question yields its words and its character pairs.
 */
export function toFtsQuery(text: string): string | null {
  const terms = segmentQuery(text).slice(0, MAX_QUERY_TERMS);
  if (terms.length === 0) return null;
  const content = terms.filter((t) => !STOPWORDS.has(t));
  return (content.length > 0 ? content : terms).map((t) => `"${t}"`).join(' OR ');
}

const MAX_QUERY_TERMS = 128;

/**
 * BM25 column weights (title, heading path, body). A title word counts double: titles are short
 * and dense. Tuned on the BEIR SciFact train split (nDCG@10: [1,1,1] 0.7023, [2,1,1] 0.7030,
 * body only 0.6870); the gain is small, the ordering robust across 400- and 800-token chunks.
 */
export const DEFAULT_BM25_WEIGHTS: [number, number, number] = [2, 1, 1];

const METADATA_KEY = /^[A-Za-z0-9_.-]{1,64}$/;

function filterSql(filter: SearchFilter | undefined, params: unknown[]): string {
  if (!filter) return '';
  let sql = '';
  if (filter.documentIds && filter.documentIds.length > 0) {
    sql += ` AND c.document_id IN (${filter.documentIds.map(() => '?').join(', ')})`;
    params.push(...filter.documentIds);
  }
  for (const [key, value] of Object.entries(filter.metadata ?? {})) {
    if (!METADATA_KEY.test(key)) throw new Error(`invalid metadata key ${JSON.stringify(key)}`);
    sql += ` AND json_extract(d.metadata, ?) = ?`;
    params.push(`$."${key}"`, typeof value === 'boolean' ? Number(value) : value);
  }
  return sql;
}

interface HitRow {
  rowid: number;
  id: string;
  document_id: string;
  name: string;
  ordinal: number;
  text: string;
  heading_path: string;
  page: number | null;
  ocr_confidence: number | null;
}

/** A chunk's place in one ranking, before its text is read. */
export interface RankedRow {
  rowid: number;
  score: number;
}

/**
 * Reads the chunks of a ranking, in its order, with its scores. Searches rank bare rowids and
 * come here with the few that survive (the top k, or the fused top of two rankings), so chunk
 * text is read and copied for those alone. A row deleted since it was ranked is left out.
 */
export function hydrate(db: Db, ranked: readonly RankedRow[]): ChunkHit[] {
  if (ranked.length === 0) return [];
  const rows = prepareCached(
    db,
    `SELECT c.rowid, c.id, c.document_id, d.name, c.ordinal, c.text, c.heading_path, c.page, c.ocr_confidence
     FROM chunks c JOIN documents d ON d.id = c.document_id
     WHERE c.rowid IN (SELECT value FROM json_each(?))`,
  ).all(JSON.stringify(ranked.map((r) => r.rowid))) as HitRow[];
  const byRowid = new Map(rows.map((r) => [r.rowid, r]));
  const hits: ChunkHit[] = [];
  for (const { rowid, score } of ranked) {
    const r = byRowid.get(rowid);
    if (!r) continue;
    hits.push({
      chunkId: r.id,
      documentId: r.document_id,
      documentName: r.name,
      ordinal: r.ordinal,
      text: r.text,
      headingPath: JSON.parse(r.heading_path) as string[],
      page: r.page,
      ocrConfidence: r.ocr_confidence,
      score,
    });
  }
  return hits;
}

/** `fn` in one read transaction: one snapshot, so a KB or document deleted meanwhile is consistently absent. */
export const inSnapshot = <T>(db: Db, fn: () => T): T => db.transaction(fn)();

/** BM25 over the KB's own full-text table (see kb-fts.ts), best first. */
export function rankLexical(db: Db, a: LexicalArgs): RankedRow[] {
  const match = toFtsQuery(a.query);
  if (match === null) return [];
  const fts = kbFtsTable(db, a.tenantId, a.kbId);
  if (fts === null) return [];
  const [wt, wh, wb] = a.weights ?? DEFAULT_BM25_WEIGHTS;
  const params: unknown[] = [wt, wh, wb, match];
  const where = filterSql(a.filter, params);
  params.push(a.k);
  const narrow = where === '' ? '' : `JOIN chunks c ON c.rowid = ${fts}.rowid JOIN documents d ON d.id = c.document_id`;
  return prepareCached(
    db,
    `SELECT ${fts}.rowid AS rowid, -bm25(${fts}, ?, ?, ?) AS score FROM ${fts} ${narrow}
     WHERE ${fts} MATCH ?${where} ORDER BY score DESC LIMIT ?`,
  ).all(...params) as RankedRow[];
}

/** Cosine KNN in the KB's partition of the dimension's vec0 table, nearest first (score = 1 − distance). */
export function rankVector(db: Db, a: VectorArgs): RankedRow[] {
  if (a.vector.length !== a.dim) throw new Error(`query vector has ${a.vector.length} dimensions, the KB ${a.dim}`);
  const table = vectorTable(a.dim);
  const exists = prepareCached(db, `SELECT 1 FROM sqlite_master WHERE name = ?`).get(table);
  if (!exists) return [];
  const knn = `SELECT rowid, distance FROM ${table} WHERE embedding MATCH ? AND k = ? AND kb_key = ?`;
  const key = kbKey(a.tenantId, a.kbId);
  if (!a.filter) {
    return prepareCached(db, `SELECT rowid, 1 - distance AS score FROM (${knn}) ORDER BY distance`).all(a.vector, a.k, key) as RankedRow[];
  }
  // With a filter, over-fetch nearest neighbours and filter afterwards (vec0 partitions by KB only).
  const params: unknown[] = [];
  const where = filterSql(a.filter, params);
  return prepareCached(
    db,
    `WITH knn AS (${knn})
     SELECT knn.rowid AS rowid, 1 - knn.distance AS score
     FROM knn JOIN chunks c ON c.rowid = knn.rowid JOIN documents d ON d.id = c.document_id
     WHERE 1 = 1${where} ORDER BY knn.distance LIMIT ?`,
  ).all(a.vector, Math.min(a.k * 20, 4096), key, ...params, a.k) as RankedRow[];
}

export const searchLexical = (db: Db, a: LexicalArgs): ChunkHit[] => inSnapshot(db, () => hydrate(db, rankLexical(db, a)));

export const searchVector = (db: Db, a: VectorArgs): ChunkHit[] => inSnapshot(db, () => hydrate(db, rankVector(db, a)));
