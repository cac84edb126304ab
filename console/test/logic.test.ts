import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fullText, joinChunks, overlapLength, pdfPageUrl } from '../src/chunk-text.ts';
import { loadConversation, MAX_TURNS, saveConversation, splitCitations, type Turn } from '../src/conversation.ts';
import { detectLang, errorText, MESSAGES, translate } from '../src/i18n.ts';
import { labRequest } from '../src/lab-request.ts';
import { SseParser } from '../src/sse.ts';
import { applyTask, attemptsOf, statusOfTask, steps, type DocumentView, type TaskView } from '../src/timeline.ts';

describe('i18n', () => {
  it('has every English key in Chinese, none empty, with the same placeholders', () => {
    for (const [key, en] of Object.entries(MESSAGES.en)) {
      const zh = MESSAGES.zh[key as keyof typeof MESSAGES.en];
      assert.ok(zh && zh.length > 0, key);
      const vars = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      assert.deepEqual(vars(zh), vars(en), key);
    }
  });
  it('defaults to the browser language: any Chinese variant is zh, the first known language wins', () => {
    assert.equal(detectLang(['zh-TW', 'en']), 'zh');
    assert.equal(detectLang(['fr-FR', 'en-GB', 'zh']), 'en');
    assert.equal(detectLang(['fr']), 'en');
    assert.equal(detectLang(undefined), 'en');
  });
  it('fills placeholders and leaves unknown ones visible', () => {
    assert.equal(translate('zh', 'docs.retried', { n: 3 }), '已将 3 个文档重新放入流水线');
    assert.equal(translate('en', 'docs.retried'), '{n} documents put back in the pipeline');
  });
  it('words known error codes itself and passes others through', () => {
    assert.equal(errorText('zh', 'not_failed', 'x'), '该文档未失败，无需重试。');
    assert.equal(errorText('en', 'weird_code', 'server says'), 'server says');
  });
});

describe('SSE parser', () => {
  it('assembles events split anywhere across chunks, skips comments, joins multi-line data', () => {
    const p = new SseParser();
    const text = ': ping\n\nevent: context\ndata: {"a":1}\n\nevent: token\r\ndata: 你\r\ndata: 好\r\n\r\nevent: done\ndata: {}\n\n';
    const events = [];
    for (let i = 0; i < text.length; i += 3) events.push(...p.push(text.slice(i, i + 3)));
    assert.deepEqual(events, [
      { event: 'context', data: '{"a":1}' },
      { event: 'token', data: '你\n好' },
      { event: 'done', data: '{}' },
    ]);
  });
  it('keeps an unfinished event until its blank line arrives', () => {
    const p = new SseParser();
    assert.deepEqual(p.push('event: token\ndata: x\n'), []);
    assert.deepEqual(p.push('\n'), [{ event: 'token', data: 'x' }]);
  });
});

const doc = (over: Partial<DocumentView> = {}): DocumentView => ({
  id: 'doc_1', kb: 'default', name: 'a.md', type: 'markdown', status: 'queued', stage: 'parse', progress: { done: 0, total: 4 },
  error: null, chunks: 0, bytes: 10, content_hash: 'h', metadata: {}, task_id: 'task_1', created_at: '', updated_at: '', ...over,
});
const task = (over: Partial<TaskView>): TaskView => ({
  id: 'task_1', kind: 'ingest', status: 'running', stage: 'parse', progress: { done: 0, total: 4 }, error: null, document_id: 'doc_1', version: 2, ...over,
});

describe('pipeline timeline', () => {
  it('marks the steps before the current one done', () => {
    assert.deepEqual(
      steps('embedding', 'embed').map((s) => s.state),
      // queued, parsing, recognizing (OCR, passed or skipped), chunking: done; embedding: current.
      ['done', 'done', 'done', 'done', 'current', 'todo', 'todo'],
    );
    assert.ok(steps('ready', null).every((s) => s.state === 'done'));
  });
  it('shows where a failed document stopped', () => {
    assert.deepEqual(
      steps('failed', 'chunk').map((s) => s.state),
      ['done', 'done', 'done', 'failed', 'todo', 'todo', 'todo'],
    );
    assert.deepEqual(
      steps('failed', 'ocr').map((s) => s.state),
      ['done', 'done', 'failed', 'todo', 'todo', 'todo', 'todo'],
    );
  });
  it('applies newer task events and ignores older ones (reconnects deliver out of order)', () => {
    const seen = new Map<string, number>();
    let docs = [doc()];
    docs = applyTask(docs, task({ stage: 'embed', version: 5 }), seen);
    assert.equal(docs[0]!.status, 'embedding');
    const same = applyTask(docs, task({ stage: 'parse', version: 3 }), seen);
    assert.equal(same, docs, 'an older version changes nothing');
    docs = applyTask(docs, task({ status: 'succeeded', stage: 'index', version: 9 }), seen);
    assert.equal(docs[0]!.status, 'ready');
  });
  it('reads a retried document as queued and a retrying stage as that stage', () => {
    assert.equal(statusOfTask(task({ status: 'queued', stage: 'embed' })), 'queued');
    assert.equal(statusOfTask(task({ status: 'running', stage: 'chunk', error: 'attempt 1 of 3 failed: x' })), 'chunking');
    assert.deepEqual(attemptsOf('attempt 2 of 3 failed: boom'), { attempt: 2, of: 3 });
    assert.equal(attemptsOf('parse: corrupt'), null);
  });
});

describe('chat', () => {
  it('turns [n] markers into citation numbers, leaving out-of-range ones as text', () => {
    assert.deepEqual(splitCitations('A [1] and B [2][9].', 2), ['A ', 1, ' and B ', 2, '[9].']);
    assert.deepEqual(splitCitations('中文答案[1]', 1), ['中文答案', 1]);
  });
  it('keeps the conversation per knowledge base, bounded, and survives garbage', () => {
    const store = new Map<string, string>();
    const storage = { getItem: (k: string) => store.get(k) ?? null, setItem: (k: string, v: string) => void store.set(k, v), removeItem: (k: string) => void store.delete(k) };
    const turns: Turn[] = Array.from({ length: MAX_TURNS + 10 }, (_, i) => ({ role: 'user', text: String(i) }));
    saveConversation(storage, 'kb1', turns);
    const back = loadConversation(storage, 'kb1');
    assert.equal(back.length, MAX_TURNS);
    assert.equal(back[0]!.text, '10');
    assert.deepEqual(loadConversation(storage, 'kb2'), []);
    store.set('ragd.chat.kb3', '{not json');
    assert.deepEqual(loadConversation(storage, 'kb3'), []);
    saveConversation(storage, 'kb1', []);
    assert.equal(store.has('ragd.chat.kb1'), false);
  });
});

describe('retrieval lab request', () => {
  it('asks for context only with every ranking explained, and builds the filters', () => {
    assert.deepEqual(labRequest('q', 'vector', 3, 'doc_a, doc_b', '{"lang":"zh"}'), {
      query: 'q', mode: 'vector', top_k: 3, only_context: true, explain: true, filter: { document_ids: ['doc_a', 'doc_b'], metadata: { lang: 'zh' } },
    });
    assert.equal('filter' in labRequest('q', 'hybrid', 5, '', ''), false);
    assert.throws(() => labRequest('q', 'hybrid', 5, '', '[1]'), SyntaxError);
  });
});

describe('document text from chunks', () => {
  const section = ['Leave'];
  it('removes the chunker\'s sentence overlap and keeps the original separator', () => {
    const chunks = [
      { text: 'Employees get 25 days. Leave carries over.', heading_path: section },
      { text: 'Leave carries over. Ask HR first.', heading_path: section },
    ];
    assert.equal(overlapLength(chunks[0]!.text, chunks[1]!.text), 'Leave carries over.'.length);
    assert.equal(fullText(chunks), 'Employees get 25 days. Leave carries over. Ask HR first.');
    assert.deepEqual(joinChunks(chunks).map((p) => p.chunk), [0, 1]);
  });
  it('removes a Chinese overlap (no spaces between sentences)', () => {
    const chunks = [
      { text: '果园在秋天收获苹果。梨在冬天成熟。', heading_path: [] },
      { text: '梨在冬天成熟。樱桃在春天开花。', heading_path: [] },
    ];
    assert.equal(fullText(chunks), '果园在秋天收获苹果。梨在冬天成熟。樱桃在春天开花。');
  });
  it('never takes a coincidence inside a word or sentence for an overlap', () => {
    assert.equal(overlapLength('They grow apples', 'sugar is sweet'), 0, 'not at a sentence start');
    assert.equal(overlapLength('Same.', 'Same.'), 0, 'never the whole previous chunk');
    assert.equal(fullText([{ text: 'They grow apples', heading_path: [] }, { text: 'sugar is sweet', heading_path: [] }]), 'They grow apples\nsugar is sweet');
  });
  it('never joins across sections, and separates them by a blank line', () => {
    const chunks = [
      { text: 'Intro. Apples.', heading_path: ['A'] },
      { text: 'Apples. Pears.', heading_path: ['B'] },
    ];
    assert.equal(fullText(chunks), 'Intro. Apples.\n\nApples. Pears.');
  });
  it('opens a PDF at a page', () => {
    assert.equal(pdfPageUrl('blob:http://x/1', 3), 'blob:http://x/1#page=3');
    assert.equal(pdfPageUrl('blob:http://x/1', 0), 'blob:http://x/1#page=1');
  });
});
