import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { errorMessage, notices } from '../../src/domain/messages.js';
import { normalizeQuery } from '../../src/services/query/answer-cache.js';
import { chooseLanguage, preferredLanguage, questionLanguage } from '../../src/text/language.js';
import { segmentForIndex, segmentQuery } from '../../src/text/segment.js';

describe('segmentation for full-text search', () => {
  it('rewrites unspaced runs as dictionary words plus character pairs, and leaves spaced text alone', () => {
    const zh = segmentQuery('每年享有十五天带薪年假');
    for (const t of ['年假', '带薪', '享有', '薪年']) assert.ok(zh.includes(t), `${t} in ${zh.join(' ')}`);
    assert.equal(segmentForIndex('Paid annual leave: 15 days.'), 'Paid annual leave: 15 days.');
    assert.deepEqual(segmentQuery('Paid Annual-Leave'), ['paid', 'annual', 'leave']);
  });

  it('cuts Japanese and Thai into words, and keeps English words and numbers of mixed text whole', () => {
    assert.ok(segmentQuery('有給休暇を取得できます').includes('休暇'));
    const thai = segmentQuery('ภาษาไทยง่ายนิดเดียว');
    assert.ok(thai.includes('ภาษา') && thai.includes('ไทย'), thai.join(' '));
    const mixed = segmentQuery('iPhone 15的电池续航20小时');
    for (const t of ['iphone', '15', '电池', '20', '小时']) assert.ok(mixed.includes(t), `${t} in ${mixed.join(' ')}`);
  });

  it('folds full-width forms into half-width ones (NFKC), on both sides', () => {
    assert.deepEqual(segmentQuery('ＵＳＢ－Ｃ　１２'), segmentQuery('USB-C 12'));
    assert.equal(normalizeQuery('年假有几天？'), normalizeQuery('年假有几天?'));
    assert.equal(normalizeQuery(' 年假　有几天 '), normalizeQuery('年假 有几天'));
  });
});

describe('the language of notices', () => {
  it('follows Accept-Language by quality, else the question', () => {
    assert.equal(preferredLanguage('zh-CN,zh;q=0.9,en;q=0.8'), 'zh');
    assert.equal(preferredLanguage('en-US,en;q=0.9,zh;q=0.8'), 'en');
    assert.equal(preferredLanguage('fr-FR,zh-TW;q=0.5'), 'zh');
    assert.equal(preferredLanguage('fr'), 'en');
    assert.equal(preferredLanguage('zh;q=0,en'), 'en');
    assert.equal(preferredLanguage('*'), null);
    assert.equal(preferredLanguage(undefined), null);
    assert.equal(questionLanguage('年假有几天？'), 'zh');
    assert.equal(questionLanguage('有給休暇は何日ですか'), 'en', 'Japanese is not Chinese');
    assert.equal(questionLanguage('how many days of leave?'), 'en');
    assert.equal(chooseLanguage(undefined, 'iPhone 电池能用多久'), 'zh');
    assert.equal(chooseLanguage('en', '年假有几天'), 'en');
  });

  it('translates notices and error messages, keeping the specifics', () => {
    assert.match(notices('zh').pending(3), /3 个文档/);
    assert.match(notices('en').pending(1), /^1 document /);
    assert.equal(errorMessage('not_found', 'document "d1" not found', 'zh'), '未找到（document "d1" not found）');
    assert.equal(errorMessage('not_found', 'document "d1" not found', 'en'), 'document "d1" not found');
    assert.equal(errorMessage('some_new_code', 'as is', 'zh'), 'as is');
  });

  it('says why vector search was skipped in the asker\'s language, not by wrapping an English reason', () => {
    const noIndex = { kind: 'no_vector_index', detail: 'pgvector is not installed in this database' } as const;
    const unreachable = { kind: 'embedder_unreachable', embedder: 'openai:text-embedding-3-small' } as const;
    assert.equal(notices('en').vectorSkipped(noIndex), 'vector search skipped: pgvector is not installed in this database');
    assert.match(notices('en').vectorSkipped(unreachable), /built with embedder openai:text-embedding-3-small$/);
    const zh = notices('zh').vectorSkipped(noIndex);
    assert.match(zh, /向量索引/);
    assert.doesNotMatch(zh, /[A-Za-z]/, 'no English words in the Chinese notice');
    assert.match(notices('zh').vectorSkipped(unreachable), /嵌入模型 openai:text-embedding-3-small 建立/);
  });
});
