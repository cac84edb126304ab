import { badRequest, unknownModel, unsupported } from '../../../domain/errors.js';
import type { ChatMessage } from '../../../ports/models.js';
import type { KbRecord } from '../../../ports/store.js';
import { MAX_QUERY_CHARS, SEARCH_MODES, type SearchMode } from '../../../services/query/types.js';
import type { ChatCompletionBody } from './schemas.js';

/**
 * From an OpenAI chat request to ragd's question: which KB and mode the model names, the last
 * user message as the question, and the turns before it as history. Everything ragd cannot honour
 * is refused here with a message that says so.
 */

export interface ChatQuestion {
  question: string;
  history: ChatMessage[];
}

/** `kb` or `kb:mode`; a KB whose own id or name ends in `:word` is still found (mode checked second). */
export function resolveModel(model: string, kbs: readonly KbRecord[]): { kb: KbRecord; mode: SearchMode } {
  const find = (name: string) => kbs.find((k) => k.id === name) ?? kbs.find((k) => k.name === name);
  const whole = find(model);
  if (whole) return { kb: whole, mode: 'hybrid' };
  const colon = model.lastIndexOf(':');
  const mode = model.slice(colon + 1) as SearchMode;
  const kb = colon > 0 && SEARCH_MODES.includes(mode) ? find(model.slice(0, colon)) : undefined;
  if (!kb) throw unknownModel(model);
  return { kb, mode };
}

/** The model ids of a KB: its own, and one per retrieval mode other than the default. */
export const modelIdsOf = (kb: KbRecord): { id: string; name: string }[] => [
  { id: kb.id, name: kb.name },
  ...SEARCH_MODES.filter((m) => m !== 'hybrid').map((m) => ({ id: `${kb.id}:${m}`, name: `${kb.name} (${m})` })),
];

/** A message's text: a string, or the text parts of a content array. Images and files are refused. */
function textOf(content: unknown, index: number): string {
  if (content === null || content === undefined) return '';
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw badRequest(`messages[${index}].content must be a string or an array of content parts`);
  return content
    .map((part: unknown) => {
      const p = part as { type?: unknown; text?: unknown };
      if (p?.type === 'text' && typeof p.text === 'string') return p.text;
      throw unsupported(`messages[${index}] has a "${String(p?.type)}" part: only text is supported, not images, audio or files`);
    })
    .join('\n');
}

/** Earlier answers' [n] markers pointed at their own sources, not at the new ones. */
const stripMarkers = (text: string) => text.replace(/\s?\[\d+\]/g, '');

export function readQuestion(body: ChatCompletionBody): ChatQuestion {
  const extra = body as Record<string, unknown>;
  if (body.n !== undefined && body.n > 1) throw unsupported('n > 1 is not supported: ragd gives one answer per question');
  for (const field of ['tools', 'functions'] as const) {
    const v = extra[field];
    if (Array.isArray(v) ? v.length > 0 : v !== undefined && v !== null) {
      throw unsupported(`${field} are not supported: ragd answers from its knowledge base and calls no tools`);
    }
  }
  const turns: ChatMessage[] = [];
  body.messages.forEach((m, i) => {
    switch (m.role) {
      case 'system':
      case 'developer':
        // ragd's own instructions confine the model to the sources; a client's would compete with them.
        return;
      case 'user':
      case 'assistant': {
        const text = textOf(m.content, i);
        if (text.trim() !== '') turns.push({ role: m.role, content: m.role === 'assistant' ? stripMarkers(text) : text });
        return;
      }
      case 'tool':
      case 'function':
        throw unsupported(`messages[${i}] is a ${m.role} message: tools are not supported`);
      default:
        throw badRequest(`messages[${i}].role must be one of: system, developer, user, assistant`);
    }
  });
  const last = turns.pop();
  if (!last || last.role !== 'user') throw badRequest('the last message must be the user\'s question');
  const question = last.content.trim();
  if ([...question].length > MAX_QUERY_CHARS) throw badRequest(`the question is longer than ${MAX_QUERY_CHARS} characters`, 'query_too_long');
  return { question, history: turns };
}
