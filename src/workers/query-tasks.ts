import { extractSentences, type ExtractInput, type ExtractOutput } from '../services/query/extract-sentences.js';

/**
 * Query-path CPU work that is more than an index lookup, run in the search pool's threads
 * (search-pool.ts loads this module by file name next to search-tasks.ts).
 */
export function extractAnswer(input: ExtractInput): ExtractOutput {
  return extractSentences(input);
}
