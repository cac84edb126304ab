/**
 * The chunker's output on a fixed corpus (English prose in text, Markdown and HTML, Chinese with
 * and without punctuation, a log without blank lines, runs without spaces) at several chunk sizes,
 * pinned by digest: cheaper token counting must leave every chunk boundary and token count as it
 * was. The digests are of the output of the implementation before the counting was reworked.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { chunkDocument } from '../../src/chunking/chunker.js';
import { countTokens, encodeTokens } from '../../src/chunking/tokens.js';
import type { DocType, ParsedDocument, ParseLimits } from '../../src/domain/types.js';
import { parseBytes } from '../../src/parsing/index.js';
import { prng, syntheticCorpus } from '../support/server.js';

const LIMITS: ParseLimits = { maxUnzippedBytes: 1 << 26, maxZipRatio: 100, maxPdfPages: 100, maxTextChars: 50_000_000, maxDocxXmlBytes: 1 << 26 };

const HANZI = '的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志世金增争济阶油思术极交受联什认六共权收证改清己美再采转更单风切打白教速花带安场身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集温传土许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连断深难近矿千周委素技备半办青省列习响约支般史感劳便团往酸历市克何除消构府称太准精值号率族维划选标写存候毛亲快效斯院查江型眼王按格养易置派层片始却专状育厂京识适属圆包火住调满县局照参红细引听该铁价严';
const PUNCT = ['。', '，', '！', '？', '；', '：', '、'];

/** Chinese prose: sentences of 5–60 characters, some with an English word or a number. */
function chinese(seed: number, chars: number, punctuated: boolean): string {
  const rand = prng(seed);
  let out = '';
  while (out.length < chars) {
    const len = 5 + Math.floor(rand() * 55);
    for (let i = 0; i < len; i++) out += HANZI[Math.floor(rand() * HANZI.length)];
    if (rand() < 0.15) out += ` iPhone ${Math.floor(rand() * 100)} `;
    if (punctuated) out += PUNCT[Math.floor(rand() * PUNCT.length)];
    if (punctuated && rand() < 0.1) out += '\n\n';
  }
  return out;
}

const logLine = (n: number) =>
  `2026-12-07T03:${String(Math.floor(n / 60) % 60).padStart(2, '0')}:${String(n % 60).padStart(2, '0')}Z INFO http request id=${n} path=/api/items/${(n * 7919) % 100_000} status=${n % 13 === 0 ? 404 : 200} took=${n % 997}ms user=u${n % 1234}`;

async function corpus(): Promise<ParsedDocument[]> {
  const docs: [DocType, string][] = [];
  for (const d of syntheticCorpus({ seed: 7, count: 24, minBytes: 2 * 1024, maxBytes: 60 * 1024 })) {
    docs.push([d.kind === 'md' ? 'markdown' : d.kind === 'html' ? 'html' : 'text', d.text]);
  }
  docs.push(['text', chinese(1, 30_000, true)]);
  docs.push(['markdown', `# 标题\n\n## 第一节\n\n${chinese(2, 8_000, true)}\n\n## 第二节\n\n${chinese(3, 6_000, false)}`]);
  docs.push(['text', chinese(4, 12_000, false)]);
  docs.push(['text', Array.from({ length: 2500 }, (_, n) => logLine(n)).join('\n')]);
  const rand = prng(5);
  const b64 = Array.from({ length: 20_000 }, () => 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'[Math.floor(rand() * 64)]).join('');
  // Hard cuts that fall next to surrogate pairs.
  docs.push(['text', Array.from({ length: 3000 }, (_, i) => (i % 3 === 0 ? '😀' : i % 7 === 0 ? 'x' : '中')).join('')]);
  docs.push(['text', `A key follows. ${b64} And the text goes on. Mixed 中文 and English, 数字 12345 and 符号 ==== ---- ....`]);
  const parsed: ParsedDocument[] = [];
  for (const [type, text] of docs) parsed.push(await parseBytes(type, new TextEncoder().encode(text), LIMITS));
  return parsed;
}

/** chunkTokens, overlapTokens → digest of every chunk's text, token count, heading path and page. */
const PINNED: [number, number, string][] = [
  [400, 40, 'e631fe893e2d5ca49f10e389cd26b3487793be91ad1e6734b142514fe51c03a2'],
  [128, 20, '1cbb176d01d6e964469aff75ce0c722de533ca6161c98e2d7c0e553818a59dec'],
  [64, 0, 'e4d3d7b84665696c490987d743bcff4e9bbb41c98973de9efa1b6fa12c7bef56'],
  [512, 200, 'b18620ea06ec27a9a689e09c445fdec68574f2cbae425037e4433ee720e4bd5e'],
];

describe('chunk boundaries on a fixed corpus', () => {
  for (const [chunkTokens, overlapTokens, digest] of PINNED) {
    it(`are unchanged at ${chunkTokens} tokens with ${overlapTokens} of overlap`, async () => {
      const hash = createHash('sha256');
      let chunks = 0;
      for (const doc of await corpus()) {
        for (const c of chunkDocument(doc, { chunkTokens, overlapTokens })) {
          hash.update(JSON.stringify([c.text, c.tokenCount, c.headingPath, c.page]));
          chunks++;
        }
      }
      assert.ok(chunks > 100, `${chunks} chunks`);
      assert.equal(hash.digest('hex'), digest);
    });
  }

  it('counts exactly the tokens the encoder makes', async () => {
    for (const doc of await corpus()) {
      for (const c of chunkDocument(doc, { chunkTokens: 400, overlapTokens: 40 })) {
        assert.equal(c.tokenCount, encodeTokens(c.text).length);
        assert.equal(countTokens(c.text), c.tokenCount);
      }
    }
  });
});
