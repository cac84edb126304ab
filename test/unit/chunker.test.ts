import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encode } from 'gpt-tokenizer/encoding/cl100k_base';
import type { ChunkDraft, ParsedBlock, ParsedDocument } from '../../src/domain/types.js';
import { chunkDocument, toSections } from '../../src/chunking/chunker.js';
import { sentenceSpans, splitSentences } from '../../src/chunking/sentences.js';
import { countTokens, splitByTokens } from '../../src/chunking/tokens.js';

/** Deterministic pseudo-random prose: distinct numbered sentences so overlaps are unambiguous. */
function prose(seed: number, sentences: number): string {
  const words = ['solar', 'panel', 'battery', 'inverter', 'roof', 'angle', 'energy', 'storage', 'grid', 'meter', 'cable', 'voltage'];
  let s = seed;
  const rnd = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const out: string[] = [];
  for (let i = 0; i < sentences; i++) {
    const n = 5 + Math.floor(rnd() * 12);
    const ws = Array.from({ length: n }, () => words[Math.floor(rnd() * words.length)]!);
    out.push(`Sentence ${seed}-${i} says ${ws.join(' ')}.`);
  }
  return out.join(' ');
}

const para = (text: string, headingPath: string[] = [], page?: number): ParsedBlock =>
  page === undefined ? { kind: 'paragraph', text, headingPath } : { kind: 'paragraph', text, headingPath, page };
const heading = (text: string, headingPath: string[]): ParsedBlock => ({ kind: 'heading', text, headingPath, level: headingPath.length });

const norm = (s: string) => s.replace(/\s+/g, ' ').trim();

/** Longest k such that prev ends with next's first k characters (the overlap), ignoring trivial k. */
function overlapLength(prev: string, next: string): number {
  for (let k = Math.min(prev.length, next.length); k >= 8; k--) {
    if (prev.endsWith(next.slice(0, k))) return k;
  }
  return 0;
}

function assertInvariants(doc: ParsedDocument, chunks: ChunkDraft[], chunkTokens: number, overlap: boolean): void {
  chunks.forEach((c, i) => {
    assert.equal(c.ordinal, i);
    assert.ok(c.tokenCount <= chunkTokens, `chunk ${i} has ${c.tokenCount} > ${chunkTokens} tokens`);
    assert.equal(c.tokenCount, countTokens(c.text));
    assert.ok(c.text.length > 0);
    assert.equal(c.text, c.text.trim());
  });
  if (overlap) return; // the coverage check below reads chunks back to back
  // Every sentence appears in the chunks (a sentence cut on tokens: as consecutive pieces).
  const squash = (t: string) => t.replace(/\s+/g, '');
  const all = squash(chunks.map((c) => c.text).join(''));
  for (const b of doc.blocks) {
    for (const sentence of splitSentences(b.text)) {
      const probe = squash(sentence).slice(0, 40);
      assert.ok(all.includes(probe), `missing: ${probe}`);
    }
  }
}

describe('chunkDocument', () => {
  it('never exceeds chunkTokens, for many sizes and shapes of input', () => {
    const doc: ParsedDocument = {
      blocks: [
        heading('Guide', ['Guide']),
        para(prose(1, 3), ['Guide']),
        para(prose(2, 60), ['Guide']), // oversized block → sentences
        para('x'.repeat(6000) + ' tail.', ['Guide']), // oversized sentence → tokens
        para('日本語の文章です。'.repeat(200), ['Guide']),
        { kind: 'code', text: Array.from({ length: 200 }, (_, i) => `  line_${i} = compute(${i}) // step`).join('\n'), headingPath: ['Guide'] },
        para('Special tokens like <|endoftext|> and <|fim_prefix|> are plain text here.', ['Guide']),
      ],
    };
    for (const chunkTokens of [8, 16, 50, 128, 512]) {
      for (const overlapTokens of [0, 4, 32]) {
        const chunks = chunkDocument(doc, { chunkTokens, overlapTokens });
        assertInvariants(doc, chunks, chunkTokens, overlapTokens > 0);
        // and the library's own count agrees for ordinary text
        for (const c of chunks) {
          if (!c.text.includes('xxxxxxxx')) {
            assert.ok(encode(c.text, { disallowedSpecial: new Set() }).length <= chunkTokens);
          }
        }
      }
    }
  });

  it('packs small blocks of a section together, and keeps sections apart', () => {
    const doc: ParsedDocument = {
      blocks: [
        heading('A', ['A']),
        para('First small paragraph.', ['A']),
        para('Second small paragraph.', ['A']),
        heading('B', ['A', 'B']),
        para('Paragraph under B.', ['A', 'B']),
      ],
    };
    const chunks = chunkDocument(doc, { chunkTokens: 200, overlapTokens: 20 });
    assert.equal(chunks.length, 2);
    assert.equal(chunks[0]!.text, 'A\n\nFirst small paragraph.\n\nSecond small paragraph.');
    assert.deepEqual(chunks[0]!.headingPath, ['A']);
    assert.equal(chunks[1]!.text, 'B\n\nParagraph under B.');
    assert.deepEqual(chunks[1]!.headingPath, ['A', 'B']);
  });

  it('merges heading-only sections into the following subsection', () => {
    const blocks = [
      heading('Title', ['Title']),
      heading('Part', ['Title', 'Part']),
      heading('Detail', ['Title', 'Part', 'Detail']),
      para('Body text.', ['Title', 'Part', 'Detail']),
      heading('Lonely', ['Lonely']),
    ];
    const sections = toSections(blocks);
    assert.equal(sections.length, 2);
    const chunks = chunkDocument({ blocks }, { chunkTokens: 100, overlapTokens: 0 });
    assert.deepEqual(chunks.map((c) => [c.text, c.headingPath]), [
      ['Title\n\nPart\n\nDetail\n\nBody text.', ['Title', 'Part', 'Detail']],
      ['Lonely', ['Lonely']],
    ]);
  });

  it('overlaps consecutive chunks of a section with trailing whole sentences, within overlapTokens', () => {
    const doc: ParsedDocument = { blocks: [para(prose(7, 80), ['S'])] };
    const overlapTokens = 30;
    const chunks = chunkDocument(doc, { chunkTokens: 120, overlapTokens });
    assert.ok(chunks.length >= 5);
    let withOverlap = 0;
    for (let i = 1; i < chunks.length; i++) {
      const prev = chunks[i - 1]!.text;
      const next = chunks[i]!.text;
      const k = overlapLength(prev, next);
      if (k === 0) continue;
      withOverlap++;
      const shared = next.slice(0, k);
      assert.ok(countTokens(shared) <= overlapTokens, `overlap of ${countTokens(shared)} tokens`);
      assert.match(shared, /^Sentence \d+-\d+/, 'overlap starts at a sentence start');
      assert.match(shared, /\.$/, 'overlap ends with a whole sentence');
    }
    assert.ok(withOverlap >= chunks.length - 2, `only ${withOverlap} of ${chunks.length - 1} chunk pairs overlap`);
  });

  it('does not overlap across sections, and with overlapTokens 0 not at all', () => {
    const doc: ParsedDocument = {
      blocks: [para(prose(3, 40), ['One']), para(prose(4, 40), ['Two'])],
    };
    const chunks = chunkDocument(doc, { chunkTokens: 100, overlapTokens: 40 });
    const firstOfTwo = chunks.findIndex((c) => c.headingPath[0] === 'Two');
    assert.ok(firstOfTwo > 0);
    assert.ok(chunks[firstOfTwo]!.text.startsWith('Sentence 4-0 '), 'section Two starts fresh');

    const none = chunkDocument(doc, { chunkTokens: 100, overlapTokens: 0 });
    for (let i = 1; i < none.length; i++) assert.equal(overlapLength(none[i - 1]!.text, none[i]!.text), 0);
    // without overlap, the chunks are exactly the text, re-joined
    const one = none.filter((c) => c.headingPath[0] === 'One').map((c) => c.text).join(' ');
    assert.equal(norm(one), norm(prose(3, 40)));
  });

  it('cuts an oversized sentence on token boundaries, losing nothing', () => {
    const word = 'abc'.repeat(3000); // one 9000-character "sentence"
    const chunks = chunkDocument({ blocks: [para(word)] }, { chunkTokens: 64, overlapTokens: 10 });
    assert.ok(chunks.length > 10);
    assert.ok(chunks.every((c) => c.tokenCount <= 64));
    assert.equal(chunks.map((c) => c.text).join(''), word);
  });

  it('sets page from the first block of the chunk, null when there are none', () => {
    const doc: ParsedDocument = {
      blocks: [para('Page one text.', [], 1), para('More page one.', [], 1), para(prose(9, 30), [], 2), para('Page three.', [], 3)],
    };
    const chunks = chunkDocument(doc, { chunkTokens: 60, overlapTokens: 0 });
    assert.equal(chunks[0]!.page, 1);
    for (const c of chunks) {
      if (c.text.startsWith('Sentence 9-')) assert.equal(c.page, 2);
      if (c.text.startsWith('Page three')) assert.equal(c.page, 3);
    }
    const plain = chunkDocument({ blocks: [para('No pages here.')] }, { chunkTokens: 60, overlapTokens: 0 });
    assert.equal(plain[0]!.page, null);
  });

  it('is deterministic and returns [] for a document without text', () => {
    const doc: ParsedDocument = { blocks: [heading('H', ['H']), para(prose(5, 50), ['H'])] };
    const a = chunkDocument(doc, { chunkTokens: 90, overlapTokens: 20 });
    const b = chunkDocument(structuredClone(doc), { chunkTokens: 90, overlapTokens: 20 });
    assert.deepEqual(a, b);
    assert.deepEqual(chunkDocument({ blocks: [] }, { chunkTokens: 90, overlapTokens: 20 }), []);
  });

  it('rejects nonsensical options', () => {
    const doc: ParsedDocument = { blocks: [para('x')] };
    assert.throws(() => chunkDocument(doc, { chunkTokens: 0, overlapTokens: 0 }), RangeError);
    assert.throws(() => chunkDocument(doc, { chunkTokens: 100, overlapTokens: -1 }), RangeError);
  });
});

describe('tokens', () => {
  it('counts exactly like the tokenizer on ordinary text, across segment boundaries', () => {
    const text = prose(11, 2000) + '\n\n  indented\tline with   spaces\n' + prose(12, 500);
    assert.ok(text.length > 20_000);
    assert.equal(countTokens(text), encode(text, { disallowedSpecial: new Set() }).length);
  });

  it('stays fast on a huge run without spaces (BPE is quadratic per pre-token)', () => {
    const started = Date.now();
    const n = countTokens('a'.repeat(300_000));
    assert.ok(n > 0);
    assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`);
  });

  it('chunks a megabyte with no line break or no sentence end in linear time, losing nothing', () => {
    const inputs = [
      '我们的年假制度规定员工每年享有带薪休假'.repeat(52_000), // Chinese, no punctuation at all
      'word another thing here '.repeat(42_000), // English, no sentence end
      'x'.repeat(1_000_000), // one "word"
      '员工每年享有十五天带薪年假，'.repeat(70_000), // only commas
    ];
    for (const text of inputs) {
      const started = Date.now();
      const chunks = chunkDocument({ blocks: [para(text)] }, { chunkTokens: 400, overlapTokens: 0 });
      const ms = Date.now() - started;
      // Anti-hang bound only (the machine may be busy); quadratic chunking took minutes here.
      assert.ok(ms < 30_000, `took ${ms} ms`);
      assert.equal(chunks.map((c) => c.text).join('').replace(/\s+/g, ''), text.replace(/\s+/g, ''));
      for (const c of chunks.slice(0, 50)) {
        assert.ok(c.tokenCount <= 400);
        assert.equal(c.tokenCount, countTokens(c.text));
      }
    }
  });

  it('cuts Chinese text at sentence ends, not inside a sentence', () => {
    const sentences = Array.from({ length: 200 }, (_, i) => `第${i}条规定员工每年享有带薪年假，具体天数由公司规定；`);
    const chunks = chunkDocument({ blocks: [para(sentences.join(''))] }, { chunkTokens: 120, overlapTokens: 0 });
    assert.ok(chunks.length > 5);
    for (const c of chunks) {
      assert.ok(c.text.endsWith('；'), `chunk ends mid-sentence: …${c.text.slice(-10)}`);
      assert.ok(c.text.startsWith('第'));
    }
  });

  it('splitByTokens pieces re-join to the input, even through multi-byte characters', () => {
    const text = '😀'.repeat(40) + ' naïve café ' + '中文'.repeat(30);
    for (const max of [1, 2, 3, 7]) {
      const pieces = splitByTokens(text, max);
      assert.equal(pieces.join(''), text);
      assert.ok(pieces.every((p) => !p.includes('\uFFFD')));
    }
  });
});

describe('sentences', () => {
  it('splits on terminal punctuation, not after abbreviations, initials or decimals', () => {
    assert.deepEqual(
      splitSentences('Dr. Smith paid $3.50 for it, e.g. at the U.S. store. Then he left! Was it J. R. R. Tolkien? Yes.'),
      ['Dr. Smith paid $3.50 for it, e.g. at the U.S. store.', 'Then he left!', 'Was it J. R. R. Tolkien?', 'Yes.'],
    );
  });

  it('does not split before a lower-case continuation, splits after closing quotes', () => {
    assert.deepEqual(splitSentences('He said "Stop." Then ran. Version 2. is out. see below'), [
      'He said "Stop."',
      'Then ran.',
      'Version 2. is out. see below',
    ]);
  });

  it('splits CJK full stops without spaces, and on line breaks', () => {
    assert.deepEqual(splitSentences('今日は晴れです。明日は雨！本当？'), ['今日は晴れです。', '明日は雨！', '本当？']);
    assert.deepEqual(splitSentences('年假有几天？每年十五天；病假另计。'), ['年假有几天？', '每年十五天；', '病假另计。']);
    assert.deepEqual(splitSentences('- item one\n- item two'), ['- item one', '- item two']);
  });

  it('spans index into the original string', () => {
    const text = '  First one.   Second one.  ';
    const spans = sentenceSpans(text);
    assert.deepEqual(spans.map((s) => text.slice(s.start, s.end)), ['First one.', 'Second one.']);
  });
});

describe('chunkDocument and pages', () => {
  it('never lets a chunk span a page break, so each citation names the page its text is on', () => {
    const doc: ParsedDocument = {
      blocks: [para('Alpha is on the first page.', [], 1), para('Beta is on the second page.', [], 2), para('Gamma too.', [], 2)],
      pages: 2,
    };
    const chunks = chunkDocument(doc, { chunkTokens: 400, overlapTokens: 0 });
    assert.deepEqual(
      chunks.map((c) => [c.page, c.text]),
      [
        [1, 'Alpha is on the first page.'],
        [2, 'Beta is on the second page.\n\nGamma too.'],
      ],
    );
  });
});
