import type { Citation } from './api.ts';

/** A chat kept in the browser (localStorage), one conversation per knowledge base. */

export interface Turn {
  role: 'user' | 'assistant';
  text: string;
  citations?: Citation[];
  pending?: number;
  cached?: boolean;
  kind?: 'llm' | 'extractive' | null;
  stopped?: boolean;
  error?: string;
}

/** Oldest turns are dropped past this many: localStorage is small and shared by the origin. */
export const MAX_TURNS = 100;

const keyOf = (kb: string) => `ragd.chat.${kb}`;

export function loadConversation(storage: Pick<Storage, 'getItem'>, kb: string): Turn[] {
  try {
    const parsed = JSON.parse(storage.getItem(keyOf(kb)) ?? '[]') as unknown;
    return Array.isArray(parsed) ? (parsed as Turn[]) : [];
  } catch {
    return [];
  }
}

export function saveConversation(storage: Pick<Storage, 'setItem' | 'removeItem'>, kb: string, turns: Turn[]): void {
  if (turns.length === 0) return storage.removeItem(keyOf(kb));
  try {
    storage.setItem(keyOf(kb), JSON.stringify(turns.slice(-MAX_TURNS)));
  } catch {
    // Storage full: the conversation stays on screen, only not kept.
  }
}

/** Splits an answer into text and `[n]` markers, so each marker can become a citation chip. */
export function splitCitations(text: string, count: number): (string | number)[] {
  const out: (string | number)[] = [];
  let last = 0;
  for (const m of text.matchAll(/\[(\d{1,3})\]/g)) {
    const n = Number(m[1]);
    if (n < 1 || n > count) continue;
    if (m.index > last) out.push(text.slice(last, m.index));
    out.push(n);
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}
