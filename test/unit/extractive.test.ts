import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { EXTRACTIVE_PREFIX, ExtractiveAnswerer } from '../../src/services/query/extractive-answerer.js';
import { extractSentences, splitSentences, stem } from '../../src/services/query/extract-sentences.js';
import { buildMessages, fitToBudget, parseMessages } from '../../src/services/query/prompt.js';
import { SearchPool } from '../../src/workers/search-pool.js';

const sources = [
  {
    n: 1,
    text:
      'Photosynthesis converts light energy into chemical energy. It takes place in the chloroplasts of plant cells. ' +
      'The Calvin cycle fixes carbon dioxide into sugars.',
  },
  {
    n: 2,
    text: 'Mitochondria are the powerhouse of the cell. They produce ATP through cellular respiration, e.g. from glucose.',
  },
  { n: 3, text: 'Chlorophyll absorbs mostly blue and red light. Green light is reflected, which is why leaves look green.' },
];

describe('sentence splitting and stemming', () => {
  it('splits on sentence ends but not on abbreviations', () => {
    assert.deepEqual(splitSentences(sources[1]!.text), [
      'Mitochondria are the powerhouse of the cell.',
      'They produce ATP through cellular respiration, e.g. from glucose.',
    ]);
  });

  it('splits on blank lines and drops fragments under three words', () => {
    assert.deepEqual(splitSentences('Title\n\nFirst real sentence here. Second one follows here'), [
      'First real sentence here.',
      'Second one follows here',
    ]);
  });

  it('stems plural and verb forms to the same term', () => {
    assert.equal(stem('cells'), stem('cell'));
    assert.equal(stem('studies'), 'study');
    assert.equal(stem('treated'), stem('treating'));
  });
});

describe('extractSentences', () => {
  it('picks the sentences that answer the question, each with its source number', () => {
    const { sentences } = extractSentences({ query: 'Where does photosynthesis take place in plant cells?', sources });
    assert.ok(sentences.length >= 2 && sentences.length <= 4, `got ${sentences.length}`);
    assert.equal(sentences[0]!.text, 'It takes place in the chloroplasts of plant cells.');
    assert.equal(sentences[0]!.n, 1);
    assert.ok(sentences.every((s, i) => i === 0 || s.score <= sentences[i - 1]!.score), 'best first');
  });

  it('keeps the citation number of the source a sentence came from', () => {
    const { sentences } = extractSentences({ query: 'Why do leaves look green? chlorophyll light', sources });
    assert.equal(sentences[0]!.n, 3);
    assert.match(sentences[0]!.text, /green/i);
  });

  it('never repeats a sentence that overlapping chunks share', () => {
    const dup = [
      { n: 1, text: 'Alpha beta gamma delta. Shared sentence about quantum tunnelling effects.' },
      { n: 2, text: 'Shared sentence about quantum tunnelling effects. Epsilon zeta eta theta.' },
    ];
    const { sentences } = extractSentences({ query: 'quantum tunnelling', sources: dup });
    const texts = sentences.map((s) => s.text);
    assert.equal(new Set(texts).size, texts.length);
    assert.equal(sentences[0]!.n, 1);
  });

  it('does not pad a matching answer with unrelated sentences, but leads with the top source when nothing matches', () => {
    const leave = [
      { n: 1, text: 'Employees get 25 days of annual leave.' },
      { n: 2, text: 'Flights over 6 hours may be booked in business class.' },
    ];
    assert.deepEqual(
      extractSentences({ query: 'how many days of leave?', sources: leave }).sentences.map((s) => s.n),
      [1],
    );
    const none = extractSentences({ query: 'parking permits', sources: [...leave, { n: 3, text: 'Badges open every door downstairs.' }] });
    assert.deepEqual(
      none.sentences.map((s) => s.text),
      ['Employees get 25 days of annual leave.'],
    );
  });

  it('returns at most four sentences and nothing for no sources', () => {
    const many = Array.from({ length: 10 }, (_, i) => ({ n: i + 1, text: `The river Danube flows through city number ${i}.` }));
    assert.ok(extractSentences({ query: 'Danube river city', sources: many }).sentences.length <= 4);
    assert.deepEqual(extractSentences({ query: 'x', sources: [] }).sentences, []);
  });
});

describe('ExtractiveAnswerer in the worker pool', () => {
  // The pool opens no database for extraction; the path is only used by search tasks.
  const pool = new SearchPool({ dbPath: '/nonexistent/ragd.db', threads: 1 });
  after(() => pool.close());

  it('labels the answer and follows each sentence with its [n]', async () => {
    const answerer = new ExtractiveAnswerer(pool);
    const tokens: string[] = [];
    const res = await answerer.answerFrom('Where does photosynthesis take place?', sources, { onToken: (t) => tokens.push(t) });
    assert.ok(res.text.startsWith(EXTRACTIVE_PREFIX));
    assert.match(res.text, /chloroplasts of plant cells\. \[1\]/);
    assert.equal(tokens[0], EXTRACTIVE_PREFIX, 'the label streams first');
    assert.equal(tokens.join(''), res.text, 'streamed pieces add up to the answer');
    assert.ok(tokens.length >= 3);
  });

  it('works through the generic interface from a built prompt', async () => {
    const answerer = new ExtractiveAnswerer(pool);
    const messages = await buildMessages(
      'What does chlorophyll absorb?',
      sources.map((s) => ({ document_name: `doc${s.n}`, page: s.n === 2 ? 4 : null, text: s.text })),
      4000,
    );
    const res = await answerer.generate({ messages });
    assert.equal(answerer.kind, 'extractive');
    assert.match(res.text, /Chlorophyll absorbs mostly blue and red light\. \[3\]/);
  });
});

describe('prompt', () => {
  it('numbers the sources with name and page, and round-trips through parseMessages', async () => {
    const msgs = await buildMessages('q?', [
      { document_name: 'a.pdf', page: 2, text: 'first text' },
      { document_name: 'b.txt', page: null, text: 'second text' },
    ], 1000);
    assert.equal(msgs[0]!.role, 'system');
    assert.match(msgs[0]!.content, /\[1\]/);
    assert.match(msgs[1]!.content, /\[1\] \(a\.pdf, page 2\)\nfirst text/);
    assert.match(msgs[1]!.content, /\[2\] \(b\.txt\)\nsecond text/);
    const parsed = parseMessages(msgs);
    assert.equal(parsed.query, 'q?');
    assert.deepEqual(parsed.sources, [
      { n: 1, text: 'first text' },
      { n: 2, text: 'second text' },
    ]);
  });

  it('cuts the sources to the token budget, best-ranked first', async () => {
    const long = 'word '.repeat(2000);
    const fitted = await fitToBudget([long, long, 'tail'], 300);
    assert.equal(fitted.length, 1);
    assert.ok(fitted[0]!.length < long.length);
    assert.deepEqual(await fitToBudget(['short', 'texts'], 300), ['short', 'texts']);
  });
});

describe('extractive answers in Chinese and Japanese', () => {
  it('splits at 。！？；without spaces and quotes the sentence that answers', () => {
    assert.deepEqual(splitSentences('公司规定：每年享有十五天带薪年假。病假需要医院证明！加班怎么算？按国家规定执行；周末双倍。'), [
      '公司规定：每年享有十五天带薪年假。',
      '病假需要医院证明！',
      '加班怎么算？',
      '按国家规定执行；',
      '周末双倍。',
    ]);
    const out = extractSentences({ query: '年假有几天？', sources: [{ n: 1, text: '员工手册。公司重视员工健康。每年享有十五天带薪年假。病假需要医院证明。' }] });
    assert.equal(out.sentences[0]?.text, '每年享有十五天带薪年假。');
    const ja = extractSentences({ query: '有給休暇は何日ですか', sources: [{ n: 2, text: '会社の規則です。社員は毎年十五日の有給休暇を取得できます。' }] });
    assert.deepEqual(ja.sentences[0], { ...ja.sentences[0], text: '社員は毎年十五日の有給休暇を取得できます。', n: 2 });
  });

  it('matches full-width and half-width forms alike', () => {
    const out = extractSentences({ query: 'ＵＳＢ－Ｃ 充电', sources: [{ n: 1, text: '本机使用 USB-C 接口充电。屏幕为六英寸。' }] });
    assert.equal(out.sentences[0]?.text, '本机使用 USB-C 接口充电。');
  });

  it('labels and says "no match" in the question\'s language', async () => {
    const answerer = new ExtractiveAnswerer({ extractAnswer: async (input) => extractSentences(input) });
    const zh = await answerer.answerFrom('火星上有几座山？', [{ n: 1, text: '每年享有十五天带薪年假。' }]);
    assert.ok(zh.text.startsWith('摘录式回答'), zh.text);
    const en = await answerer.answerFrom('火星上有几座山？', [], { lang: 'en' });
    assert.equal(en.text, `${EXTRACTIVE_PREFIX} No passage in the knowledge base matches the question.`);
  });
});
