/**
 * Which language to speak to a client in: the languages ragd has messages for, chosen from the
 * request's Accept-Language, or — when the client sends none — from the question itself.
 */

/** Languages of the message catalogue (src/domain/messages.ts). */
export type Lang = 'en' | 'zh';

export const DEFAULT_LANG: Lang = 'en';

/**
 * The supported language the client ranks highest in an Accept-Language header
 * (`zh-CN,zh;q=0.9,en;q=0.8`), or null when the header states no preference: absent, blank, or
 * only `*` (what fetch() sends by default). A header naming only languages we have no messages
 * for (`fr`) gets English. Ties keep the header's order.
 */
export function preferredLanguage(header: string | undefined): Lang | null {
  if (header === undefined) return null;
  let best: Lang | null = null;
  let bestQ = 0;
  for (const part of header.slice(0, 1000).split(',')) {
    const [tag = '', ...params] = part.trim().split(';');
    const primary = tag.trim().toLowerCase().split('-')[0] ?? '';
    if (primary !== 'zh' && primary !== 'en') {
      if (primary !== '' && primary !== '*') best ??= DEFAULT_LANG;
      continue;
    }
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const q = qParam ? Number(qParam.slice(2)) : 1;
    if (!Number.isFinite(q) || q <= 0 || q <= bestQ) continue;
    best = primary;
    bestQ = q;
  }
  return best;
}

const HAN = /\p{Script=Han}/u;
const KANA = /[\p{Script=Hiragana}\p{Script=Katakana}]/u;

/** True for a question written in Chinese: Han characters and no kana (which would make it Japanese). */
export const isChinese = (text: string): boolean => HAN.test(text) && !KANA.test(text);

/** The language to answer a question in when the client states no preference. */
export const questionLanguage = (question: string): Lang => (isChinese(question) ? 'zh' : DEFAULT_LANG);

/** Accept-Language first; without one, the question's own language. */
export const chooseLanguage = (acceptLanguage: string | undefined, question: string | undefined): Lang =>
  preferredLanguage(acceptLanguage) ?? (question ? questionLanguage(question) : DEFAULT_LANG);
