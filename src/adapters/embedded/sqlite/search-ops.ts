import type { ChunkHit, SearchFilter } from '../../../ports/store.js';
import type { Db } from './open.js';
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
 * Turns free text into an FTS5 query: every word becomes a quoted term, OR-ed together, so
 * BM25 ranks by how many and how rare the query's words are. Quoting makes FTS5 syntax in the
 * user's text (AND, NEAR, column filters, quotes) inert.
 */
export function toFtsQuery(text: string): string | null {
  const terms = new Set<string>();
  for (const m of text.normalize('NFKC').toLowerCase().matchAll(/[\p{L}\p{N}]+/gu)) {
    if (terms.size >= 64) break;
    terms.add(m[0]);
  }
  if (terms.size === 0) return null;
  return [...terms].map((t) => `"${t}"`).join(' OR ');
}

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
  id: string;
  document_id: string;
  name: string;
  ordinal: number;
  text: string;
  heading_path: string;
  page: number | null;
  score: number;
}

const toHit = (r: HitRow): ChunkHit => ({
  chunkId: r.id,
  documentId: r.document_id,
  documentName: r.name,
  ordinal: r.ordinal,
  text: r.text,
  headingPath: JSON.parse(r.heading_path) as string[],
  page: r.page,
  score: r.score,
});

export function searchLexical(db: Db, a: LexicalArgs): ChunkHit[] {
  const match = toFtsQuery(a.query);
  if (match === null) return [];
  const [wt, wh, wb] = a.weights ?? [1, 1, 1];
  const params: unknown[] = [wt, wh, wb, match, a.tenantId, a.kbId];
  const where = filterSql(a.filter, params);
  params.push(a.k);
  const rows = db
    .prepare(
      `SELECT c.id, c.document_id, d.name, c.ordinal, c.text, c.heading_path, c.page, -bm25(chunks_fts, ?, ?, ?) AS score
       FROM chunks_fts
       JOIN chunks c ON c.rowid = chunks_fts.rowid
       JOIN documents d ON d.id = c.document_id
       WHERE chunks_fts MATCH ? AND c.tenant_id = ? AND c.kb_id = ?${where}
       ORDER BY score DESC LIMIT ?`,
    )
    .all(...params) as HitRow[];
  return rows.map(toHit);
}

export function searchVector(db: Db, a: VectorArgs): ChunkHit[] {
  if (a.vector.length !== a.dim) throw new Error(`query vector has ${a.vector.length} dimensions, the KB ${a.dim}`);
  const table = vectorTable(a.dim);
  const exists = db.prepare(`SELECT 1 FROM sqlite_master WHERE name = ?`).get(table);
  if (!exists) return [];
  const params: unknown[] = [];
  const where = filterSql(a.filter, params);
  // With a filter, over-fetch nearest neighbours and filter afterwards (vec0 partitions by KB only).
  const fetch = a.filter ? Math.min(a.k * 20, 4096) : a.k;
  const rows = db
    .prepare(
      `WITH knn AS (
         SELECT rowid, distance FROM ${table} WHERE embedding MATCH ? AND k = ? AND kb_key = ?
       )
       SELECT c.id, c.document_id, d.name, c.ordinal, c.text, c.heading_path, c.page, 1 - knn.distance AS score
       FROM knn JOIN chunks c ON c.rowid = knn.rowid JOIN documents d ON d.id = c.document_id
       WHERE 1 = 1${where}
       ORDER BY knn.distance LIMIT ?`,
    )
    .all(a.vector, fetch, kbKey(a.tenantId, a.kbId), ...params, a.k) as HitRow[];
  return rows.map(toHit);
}
