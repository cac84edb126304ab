import type { ChatMessage } from '../../ports/models.js';

/**
 * The chat prompt: a system message that confines the model to the numbered sources and asks for
 * [n] citations, and a user message with the sources (best first) and the question. The sources
 * are cut to a token budget so that a large top_k cannot overflow the model's context.
 */

export const SYSTEM_PROMPT = [
  'You answer questions using only the numbered sources provided by the user.',
  'Cite the sources that support each statement with their numbers in square brackets, like [1] or [2][3].',
  'If the sources do not contain the answer, say that you do not know; do not use outside knowledge and do not invent sources.',
  'Answer in the language of the question, concisely.',
].join(' ');

export interface PromptSource {
  document_name: string;
  page: number | null;
  text: string;
}

/**
 * The BPE tables (o200k, ~20 MB of heap in ~200k strings) are loaded only by a server that
 * prompts a model (warmTokenizer, when its answer step is built) or on the first prompt over
 * budget. On the event loop's heap they are marked by every major GC, lengthening the pauses
 * every question waits behind: a server that answers extractively (the default) never holds them.
 */
let tokenizer: Promise<typeof import('gpt-tokenizer')> | null = null;
const loadTokenizer = () => (tokenizer ??= import('gpt-tokenizer'));

/** Whether anything has asked for the tokenizer yet: for tests. */
export const tokenizerRequested = (): boolean => tokenizer !== null;

/** Starts loading the tokenizer in the background (a failure surfaces on first use). */
export function warmTokenizer(): void {
  loadTokenizer().catch(() => {
    tokenizer = null;
  });
}

/** Below this many tokens left, a source is dropped rather than cut to a useless stub. */
const MIN_SOURCE_TOKENS = 32;

function header(n: number, s: PromptSource): string {
  const name = s.document_name.replace(/[\r\n)]+/g, ' ');
  return `[${n}] (${name}${s.page !== null ? `, page ${s.page}` : ''})`;
}

/**
 * Fits the sources' texts into `budget` tokens, best-ranked first. A UTF-8 byte never holds more
 * than one BPE token, so when the bytes fit nothing needs tokenizing (the common case).
 */
export async function fitToBudget(texts: string[], budget: number): Promise<string[]> {
  const bytes = texts.reduce((n, t) => n + Buffer.byteLength(t), 0);
  if (bytes <= budget) return texts;
  const { decode, encode } = await loadTokenizer();
  const out: string[] = [];
  let left = budget;
  for (const text of texts) {
    if (left < MIN_SOURCE_TOKENS && out.length > 0) break;
    const tokens = encode(text);
    if (tokens.length <= left) {
      out.push(text);
      left -= tokens.length;
    } else {
      out.push(`${decode(tokens.slice(0, Math.max(left, MIN_SOURCE_TOKENS)))}…`);
      break;
    }
  }
  return out;
}

/**
 * The most recent turns that fit in `budget` tokens, oldest first. Counted in UTF-8 bytes (never
 * fewer than the tokens), so no tokenizer is needed; a turn that does not fit whole is dropped
 * along with everything before it, which keeps the conversation contiguous.
 */
export function fitHistory(history: readonly ChatMessage[], budget: number): ChatMessage[] {
  let left = budget;
  let from = history.length;
  while (from > 0) {
    const bytes = Buffer.byteLength(history[from - 1]!.content);
    if (bytes > left) break;
    left -= bytes;
    from--;
  }
  return history.slice(from);
}

export const REWRITE_PROMPT = [
  'Rewrite the last question of the conversation below into one standalone question that can be understood without the conversation:',
  'resolve pronouns and references ("it", "that one", "the second") to what they mean, and keep the names, numbers and terms used.',
  'If the question already stands alone, repeat it unchanged.',
  'Write it in the language of the question. Reply with the question only: no answer, no explanation, no quotes.',
].join(' ');

/**
 * The messages that ask the model for a standalone version of a follow-up question. The
 * conversation is quoted inside one user message, not replayed as turns, so the model rewrites it
 * instead of continuing it.
 */
export function buildRewriteMessages(history: readonly ChatMessage[], question: string, tokenBudget: number): ChatMessage[] {
  const turns = fitHistory(history, tokenBudget)
    .map((m) => `${m.role === 'assistant' ? 'Assistant' : 'User'}: ${m.content.trim()}`)
    .join('\n\n');
  return [
    { role: 'system', content: REWRITE_PROMPT },
    { role: 'user', content: `Conversation:\n\n${turns}\n\nLast question: ${question}` },
  ];
}

export async function buildMessages(
  query: string,
  sources: PromptSource[],
  tokenBudget: number,
  history: readonly ChatMessage[] = [],
): Promise<ChatMessage[]> {
  const texts = await fitToBudget(
    sources.map((s) => s.text),
    tokenBudget,
  );
  const blocks = texts.map((text, i) => `${header(i + 1, sources[i]!)}\n${text.trim()}`);
  const user =
    blocks.length > 0
      ? `Sources:\n\n${blocks.join('\n\n')}\n\nQuestion: ${query}`
      : `There are no sources for this question.\n\nQuestion: ${query}`;
  // The conversation so far goes between the instructions and the sourced question, in a quarter
  // of the budget: the sources matter more than old turns.
  return [{ role: 'system', content: SYSTEM_PROMPT }, ...fitHistory(history, Math.floor(tokenBudget / 4)), { role: 'user', content: user }];
}

/**
 * Reads back the question and the numbered sources of a prompt built by buildMessages, so the
 * extractive answerer can also be called through the generic AnswerGenerator interface.
 */
export function parseMessages(messages: ChatMessage[]): { query: string; sources: { n: number; text: string }[] } {
  const user = [...messages].reverse().find((m) => m.role === 'user')?.content ?? '';
  const q = user.lastIndexOf('\n\nQuestion: ');
  const query = q >= 0 ? user.slice(q + '\n\nQuestion: '.length) : user;
  const body = q >= 0 ? user.slice(0, q) : '';
  const sources: { n: number; text: string }[] = [];
  const parts = body.split(/^\[(\d+)\] \([^\n]*\)\n/m);
  // split with a capture group: [before, n1, text1, n2, text2, …]
  for (let i = 1; i + 1 < parts.length; i += 2) sources.push({ n: Number(parts[i]), text: parts[i + 1]!.trim() });
  return { query, sources };
}
