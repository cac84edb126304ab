import { hashEmbedOne } from '../embedding/hash-embedder.js';
import { extractSentences, type ExtractInput, type ExtractOutput } from '../services/query/extract-sentences.js';

/**
 * Query-path CPU work that is more than an index lookup, run in the search pool's threads
 * (search-pool.ts loads this module by file name next to search-tasks.ts).
 */
export function extractAnswer(input: ExtractInput): ExtractOutput {
  return extractSentences(input);
}

/**
 * A question's hash embedding: the same function the ingest pool's `embedQuery` runs, so the
 * vectors are identical, but here, where it never queues behind a document being parsed.
 */
export function embedHash(input: { text: string; dim: number }): Float32Array {
  return hashEmbedOne(input.text, input.dim);
}

/**
 * Not a task: piscina loads a worker's default handler first, and under `node --import tsx` on
 * Node 20 only the require-based load can read a .ts module, which needs a default export to
 * count as loaded (see ingest-tasks.ts). Harmless for the compiled build.
 */
export default function defaultTask(): never {
  throw new Error('query-tasks has no default task: call pool.run(input, { name })');
}
