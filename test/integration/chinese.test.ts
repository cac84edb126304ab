import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { makeCjkPdf, makeDocx, utf8 } from '../support/fixtures.js';
import { call, filesUnder, postFiles, startTestServer, type TestServer, waitReady } from '../support/server.js';
import type { QueryAnswer } from './query-support.js';

/*
 * Chinese (and Japanese, and mixed) end to end over real HTTP: a file of every format with a
 * Chinese name and Chinese text, questions in each mode with known answers, extractive answers
 * that quote the right sentence, and notices in the asker's language.
 */

const KB = 'handbook';

/** Each file holds one fact; `q` asks for it without repeating the sentence. */
const FILES = [
  { name: '员工手册.txt', q: '年假有几天', fact: '每年享有十五天带薪年假', bytes: utf8('第一章 总则\n\n本手册适用于全体员工。\n\n第二章 休假\n\n员工每年享有十五天带薪年假。病假需提供医院证明。\n') },
  { name: '报销制度.md', q: '差旅住宿标准是多少', fact: '住宿费每晚不超过六百元', bytes: utf8('# 报销制度\n\n## 差旅\n\n出差期间，住宿费每晚不超过六百元，凭发票报销。\n\n## 餐费\n\n餐费按天包干。\n') },
  { name: '安全须知.html', q: '灭火器放在哪里', fact: '灭火器放在每层楼梯间的右侧', bytes: utf8('<!DOCTYPE html><html><head><meta charset="utf-8"><title>安全须知</title></head><body><h1>消防安全</h1><p>灭火器放在每层楼梯间的右侧，请勿挪用。</p><script>var x="不应被索引的脚本";</script></body></html>') },
  { name: '考勤规定.docx', q: '迟到怎么处理', fact: '迟到三十分钟以上按旷工半天处理', bytes: makeDocx([{ style: 'Heading1', text: '考勤规定' }, { text: '每天上午九点上班。迟到三十分钟以上按旷工半天处理。' }]) },
  { name: '设备清单.csv', q: '投影仪在哪个会议室', fact: '投影仪', bytes: utf8('设备,数量,位置\n投影仪,2,三号会议室\n打印机,5,行政部\n') },
  { name: '系统配置.json', q: '数据库备份时间', fact: '凌晨两点', bytes: utf8(JSON.stringify({ 名称: '系统配置', 数据库: { 备份: '每天凌晨两点自动备份数据库' } })) },
  { name: '福利政策.pdf', q: '生日礼金有多少', fact: '生日礼金五百元', page: 2, pdf: [['福利政策总览。'], ['员工生日当月发放生日礼金五百元。'], ['其他福利另行通知。']] },
  { name: 'product-说明.md', q: 'iPhone 15 电池能用多久', fact: 'iPhone 15 的电池续航时间为20小时', bytes: utf8('# 产品说明\n\niPhone 15 的电池续航时间为20小时，支持 USB-C 快充。MacBook Air 重量为1.24公斤。\n') },
  { name: '就業規則.txt', q: '有給休暇は何日ですか', fact: '毎年十五日の有給休暇', bytes: utf8('就業規則\n\n社員は毎年十五日の有給休暇を取得できます。病気休暇には診断書が必要です。\n') },
];

async function ask(url: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<QueryAnswer> {
  const res = await call(`${url}/v1/kbs/${KB}/query`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body as QueryAnswer;
}

describe('Chinese, Japanese and mixed documents over HTTP', () => {
  let server: TestServer;
  let url: string;
  const ids: Record<string, string> = {};

  before(async () => {
    server = await startTestServer();
    url = server.url;
    const created = await call(`${url}/v1/kbs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: KB }) });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const files = await Promise.all(FILES.map(async (f) => ({ name: f.name, bytes: f.pdf ? await makeCjkPdf(f.pdf) : f.bytes! })));
    const res = await postFiles(url, KB, files);
    assert.equal(res.status, 202, JSON.stringify(res.body));
    for (const d of res.body.documents as { id: string; name: string }[]) ids[d.name] = d.id;
    await waitReady(url, KB, Object.values(ids));
  });
  after(async () => {
    await server?.close();
  });

  it('keeps Chinese file names as uploaded, and never uses them as paths', async () => {
    const list = (await call(`${url}/v1/kbs/${KB}/documents`)).body as { documents: { name: string }[] };
    assert.deepEqual(list.documents.map((d) => d.name).sort(), FILES.map((f) => f.name).sort());
    const stored = await filesUnder(server.dataDir);
    assert.ok(stored.length > 0);
    assert.ok(stored.every((p) => !/[\u3040-\u30ff\u4e00-\u9fff]/u.test(p)), `a stored path carries a document name: ${stored.join(', ')}`);
    assert.ok((await readdir(server.dataDir)).length > 0);
  });

  it('finds every format\'s fact with a Chinese (or Japanese) question in lexical mode, page kept for the PDF', async () => {
    for (const f of FILES) {
      const r = await ask(url, { query: f.q, mode: 'lexical', top_k: 3, only_context: true });
      const top = r.citations[0];
      assert.ok(top, `${f.name}: no citation for ${f.q}`);
      assert.equal(top.document_name, f.name, `${f.name}: top document for ${f.q}`);
      assert.ok(top.text.includes(f.fact), `${f.name}: the top chunk holds the fact: ${top.text}`);
      assert.equal(top.page, f.page ?? null, `${f.name}: page`);
    }
    const html = await ask(url, { query: '不应被索引的脚本', mode: 'lexical', only_context: true });
    assert.ok(html.citations.every((c) => !c.text.includes('不应被索引')), 'script text is not content');
  });

  it('finds them in hybrid and vector mode too', async () => {
    for (const mode of ['hybrid', 'vector']) {
      for (const f of FILES.filter((x) => ['员工手册.txt', '福利政策.pdf', '就業規則.txt'].includes(x.name))) {
        const r = await ask(url, { query: f.q, mode, top_k: 3, only_context: true });
        assert.ok(r.citations.slice(0, 3).some((c) => c.document_name === f.name), `${mode}: ${f.name} in the top 3 for ${f.q}`);
      }
    }
  });

  it('answers extractively in Chinese, quoting and citing the sentence that holds the answer', async () => {
    for (const mode of ['lexical', 'hybrid', 'vector']) {
      const r = await ask(url, { query: '年假有几天', mode, top_k: 3 });
      assert.equal(r.answer_kind, 'extractive');
      assert.ok(r.answer!.startsWith('摘录式回答'), `${mode}: the label is Chinese: ${r.answer}`);
      const m = /员工每年享有十五天带薪年假。 \[(\d)\]/.exec(r.answer!);
      assert.ok(m, `${mode}: the answer quotes the sentence: ${r.answer}`);
      assert.equal(r.citations[Number(m[1]) - 1]!.document_name, '员工手册.txt', `${mode}: the marker cites its source`);
    }
    const ja = await ask(url, { query: '有給休暇は何日ですか', mode: 'hybrid', top_k: 3 });
    assert.match(ja.answer!, /社員は毎年十五日の有給休暇を取得できます。 \[\d\]/);
    assert.ok(ja.answer!.startsWith('Extractive answer'), 'Japanese has no catalogue: English label');
    const mixed = await ask(url, { query: 'iPhone 15 电池能用多久', mode: 'lexical', top_k: 3 });
    assert.match(mixed.answer!, /iPhone 15 的电池续航时间为20小时/);
  });

  it('speaks the Accept-Language, or the question\'s language when none is sent; codes never change', async () => {
    const en = await ask(url, { query: '年假有几天', mode: 'lexical' }, { 'accept-language': 'en-US,en;q=0.9' });
    assert.ok(en.answer!.startsWith('Extractive answer (no language model configured):'), en.answer!);
    const zh = await ask(url, { query: 'annual leave', mode: 'lexical' }, { 'accept-language': 'zh-CN,zh;q=0.9,en;q=0.5' });
    assert.ok(zh.answer!.startsWith('摘录式回答'), zh.answer!);

    const missing = { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '年假有几天' }) };
    const zhErr = await call(`${url}/v1/kbs/nope/query`, missing);
    assert.equal(zhErr.status, 404);
    assert.equal(zhErr.body.error.code, 'not_found');
    assert.match(zhErr.body.error.message, /^未找到/);
    const enErr = await call(`${url}/v1/kbs/nope/query`, { ...missing, headers: { ...missing.headers, 'accept-language': 'en' } });
    assert.equal(enErr.body.error.code, 'not_found');
    assert.doesNotMatch(enErr.body.error.message, /未找到/);
    const blank = await call(`${url}/v1/kbs/${KB}/query`, { ...missing, headers: { ...missing.headers, 'accept-language': 'zh' }, body: JSON.stringify({ query: '   ' }) });
    assert.equal(blank.status, 400);
    assert.equal(blank.body.error.code, 'invalid_request');
    assert.match(blank.body.error.message, /^请求无效/);
  });

  it('caches full-width and half-width forms of a question as one', async () => {
    const first = await ask(url, { query: '迟到怎么处理？', mode: 'hybrid', top_k: 3 });
    const second = await ask(url, { query: '迟到怎么处理?', mode: 'hybrid', top_k: 3 });
    assert.equal(first.cached, false);
    assert.equal(second.cached, true);
    assert.equal(second.answer, first.answer);
    const english = await ask(url, { query: '迟到怎么处理?', mode: 'hybrid', top_k: 3 }, { 'accept-language': 'en' });
    assert.equal(english.cached, false, 'an answer labelled in Chinese is not served to an English client');
  });
});
