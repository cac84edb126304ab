import { AppError, badRequest } from '../domain/errors.js';

/**
 * Largest document metadata, as stored (its JSON), for JSON and multipart uploads alike. It is
 * listed with every page of documents and counted in the tenant's stored bytes.
 */
export const MAX_METADATA_BYTES = 64 * 1024;

/** Deeper than this, metadata is refused. Real metadata is a few levels; hostile nesting is not. */
export const MAX_METADATA_DEPTH = 32;

/**
 * Refuses document metadata nested deeper than MAX_METADATA_DEPTH (400 `invalid_metadata`).
 * Its size is already bounded by the body and field limits, but a deeply nested value passes
 * those and then overflows the stack of every recursive step after them: the structured clone
 * to the writer thread, JSON.stringify into the row. Walks with an explicit stack, so the check
 * itself cannot overflow.
 */
export function assertMetadataDepth(metadata: Record<string, unknown> | undefined): void {
  if (metadata === undefined) return;
  const pending: { value: unknown; depth: number }[] = [{ value: metadata, depth: 1 }];
  while (pending.length > 0) {
    const { value, depth } = pending.pop()!;
    if (typeof value !== 'object' || value === null) continue;
    if (depth > MAX_METADATA_DEPTH) {
      throw badRequest(`metadata is nested more than ${MAX_METADATA_DEPTH} levels deep`, 'invalid_metadata');
    }
    for (const child of Object.values(value)) pending.push({ value: child, depth: depth + 1 });
  }
}

/**
 * Checks an upload's metadata (depth, then size) and returns its stored form, the JSON text,
 * so its bytes can be counted against the tenant's quota. 413 `too_large` past MAX_METADATA_BYTES.
 */
export function checkedMetadata(metadata: Record<string, unknown> | undefined): { metadata: Record<string, unknown>; bytes: number } {
  // Depth first: serialising a hostile nesting is what would overflow the stack.
  assertMetadataDepth(metadata);
  const value = metadata ?? {};
  const bytes = Buffer.byteLength(JSON.stringify(value), 'utf8');
  if (bytes > MAX_METADATA_BYTES) {
    throw new AppError(413, 'too_large', `metadata is ${bytes} bytes as JSON; at most ${MAX_METADATA_BYTES} are accepted`);
  }
  return { metadata: value, bytes };
}
