import { badRequest } from '../domain/errors.js';

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
