import type { Statement } from 'better-sqlite3';
import type { KbRecord, KbState } from '../../../ports/store.js';
import type { Db } from './open.js';
import { toKb, type KbRow } from './rows.js';

/** The statuses of a document that is not searchable yet (neither `ready` nor `failed`). */
export const PENDING_STATUSES = `('queued', 'parsing', 'recognizing', 'chunking', 'embedding', 'indexing')`;

/** More KBs than this in the memo and it starts over: bounds its memory, whatever the traffic. */
const MAX_MEMO_ENTRIES = 10_000;

/**
 * A KB's record and its pending-document count, as every query reads them first (the answer
 * cache key holds the KB's version), without two SQLite reads per cached answer.
 *
 * The answers are memoised until SQLite says the database changed: `PRAGMA data_version` changes
 * on this connection whenever any other connection — the writer thread, another ragd process on
 * the same data directory (the CLI) — has committed since. No writer has to remember to
 * invalidate anything, so no write path can leave a stale version behind. The pragma is read
 * BEFORE the rows it guards: a commit landing between the two then makes the memo look older
 * than it is (one needless re-read), never newer (a stale answer).
 */
export class KbStateReader {
  private readonly dataVersion: Statement<[], number>;
  private readonly kbAndPending: Statement<[string, string], KbRow & { pending: number }>;
  private memo = new Map<string, KbState>();
  private memoVersion = -1;

  constructor(db: Db) {
    this.dataVersion = db.prepare<[], number>('PRAGMA data_version').pluck();
    // One statement, so the KB and its count come from the same snapshot (and one read transaction).
    this.kbAndPending = db.prepare<[string, string], KbRow & { pending: number }>(
      `SELECT k.*, (SELECT count(*) FROM documents d
         WHERE d.tenant_id = k.tenant_id AND d.kb_id = k.id AND d.status IN ${PENDING_STATUSES}) AS pending
       FROM kbs k WHERE k.tenant_id = ? AND k.id = ?`,
    );
  }

  read(tenantId: string, kbId: string): KbState | null {
    const version = this.dataVersion.get()!;
    if (version !== this.memoVersion || this.memo.size >= MAX_MEMO_ENTRIES) {
      this.memo = new Map();
      this.memoVersion = version;
    }
    // A NUL cannot occur in ids, so the pair maps to one key only.
    const key = `${tenantId}\0${kbId}`;
    const known = this.memo.get(key);
    if (known) return known;
    const row = this.kbAndPending.get(tenantId, kbId);
    // Unknown KBs are not memoised: made-up ids must not grow the map.
    if (!row) return null;
    const state: KbState = Object.freeze({ kb: Object.freeze(toKb(row)), pending: row.pending });
    this.memo.set(key, state);
    return state;
  }
}
