/**
 * Rows as `pg` returns them here are shaped as SQLite's (pool.ts parses timestamptz to ISO text,
 * leaves jsonb as JSON text and int8 as numbers), so both adapters share one mapping to the
 * port's records. It lives with the embedded adapter today; it belongs in a module both adapters
 * import (src/adapters/shared/) once the embedded tree settles.
 */
export { toDocument, toKb, toTask, type DocumentRow, type KbRow, type TaskRow } from '../../embedded/sqlite/rows.js';
export { toApiKey, toTenant, type ApiKeyRow, type TenantRow } from '../../embedded/sqlite/tenant-rows.js';
