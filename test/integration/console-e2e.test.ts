import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startFakeOpenAI, type FakeOpenAI } from '../support/fake-openai.js';
import { REPO_ROOT, requestJson, spawnServer, tempDir, type SpawnedServer } from '../support/server.js';

/**
 * The web console end to end: Debian's Chromium (driven by playwright-core) against a real
 * `ragd serve` whose models are the stand-in server. Each screen is photographed on the way:
 * into a temp dir, or into docs/screenshots/ when RAGD_SCREENSHOTS_DIR says so (`npm run screenshots`).
 */

const CHROMIUM = process.env.RAGD_CHROMIUM ?? '/usr/bin/chromium';
const ADMIN_KEY = 'console-e2e-admin-key-0123456789';
const ANSWER = 'Apples grow on trees and are harvested in autumn [1].';

let fake: FakeOpenAI;
let server: SpawnedServer;
let browser: Browser;
let page: Page;
let shots: string;
let files: string;
let acmeKey: string;

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: false });
}

const doc = (name: string) => page.locator(`[data-testid="doc-${name}"]`);

async function makePdf(): Promise<Uint8Array> {
  const pdf = await PDFDocument.create();
  const font = await pdf.embedFont(StandardFonts.Helvetica);
  for (const text of ['Orchard report. Apples grow on trees in the orchard.', 'Harvest. The apples are harvested in autumn, then stored cold.']) {
    pdf.addPage([400, 300]).drawText(text, { x: 20, y: 250, size: 11, font, maxWidth: 360 });
  }
  return pdf.save();
}

describe('web console in a real browser', { timeout: 300_000 }, () => {
  before(async () => {
    assert.ok(existsSync(join(REPO_ROOT, 'console', 'dist', 'index.html')), 'console/dist is missing: run `npm install` (it builds the console)');
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does it)`);
    shots = process.env.RAGD_SCREENSHOTS_DIR ? join(REPO_ROOT, process.env.RAGD_SCREENSHOTS_DIR) : await tempDir('ragd-shots-');
    await mkdir(shots, { recursive: true });
    files = await tempDir('ragd-console-files-');
    await writeFile(join(files, 'report.pdf'), await makePdf());
    await mkdir(join(files, 'handbook', 'more'), { recursive: true });
    await writeFile(join(files, 'handbook', 'intro.md'), '# Intro\n\nThe orchard grows apples and pears.\n\n## Staff\n\nTen people pick fruit.\n');
    await writeFile(join(files, 'handbook', '简介.md'), '# 简介\n\n果园种植苹果和梨。秋天收获苹果。\n');
    await writeFile(join(files, 'handbook', 'more', 'notes.txt'), 'Pears ripen after apples. Storage is kept cold.\n');
    await writeFile(join(files, 'flaky.txt'), 'A document whose embedding fails the first time.\n');

    fake = await startFakeOpenAI({ answer: ANSWER, embedDim: 64 });
    server = await spawnServer({
      RAGD_ADMIN_KEY: ADMIN_KEY,
      RAGD_LLM_BASE_URL: fake.url,
      RAGD_LLM_MODEL: 'fake-llm',
      RAGD_EMBED_BASE_URL: fake.url,
      RAGD_EMBED_MODEL: 'fake-embed',
      RAGD_EMBED_DIM: '64',
      RAGD_EMBED_MAX_RETRIES: '0',
      RAGD_MAX_ATTEMPTS: '2',
      RAGD_BACKOFF_BASE_MS: '20',
      RAGD_BACKOFF_MAX_MS: '50',
    });
    // Two tenants, each with a key; only globex has a KB named "globex-plans".
    const admin = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };
    for (const id of ['acme', 'globex']) {
      await requestJson(`${server.url}/v1/admin/tenants`, { method: 'POST', headers: admin, body: JSON.stringify({ id }) });
    }
    acmeKey = (await requestJson<{ key: string }>(`${server.url}/v1/admin/tenants/acme/keys`, { method: 'POST', headers: admin, body: '{}' })).key;
    const globexKey = (await requestJson<{ key: string }>(`${server.url}/v1/admin/tenants/globex/keys`, { method: 'POST', headers: admin, body: '{}' })).key;
    await requestJson(`${server.url}/v1/kbs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${globexKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'globex-plans' }),
    });

    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: 'en-US' });
    page = await context.newPage();
    page.setDefaultTimeout(30_000);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await server?.cleanup();
    await fake?.close();
  });

  it('signs in with a tenant key and sees only that tenant\'s knowledge bases', async () => {
    await page.goto(`${server.url}/`);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await shot('sign-in');
    await page.getByLabel('API key or admin key').fill(acmeKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Knowledge bases' }).waitFor();
    await page.locator('table').getByRole('link', { name: 'default', exact: true }).waitFor();
    assert.equal(await page.getByText('globex-plans').count(), 0, "another tenant's KB is not listed");
    // The key lives in sessionStorage only: no cookie carries it.
    assert.deepEqual(await page.context().cookies(), []);
    await page.getByLabel('Id').fill('orchard');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.locator('table').getByRole('link', { name: 'orchard', exact: true }).waitFor();
    await shot('knowledge-bases');
    // Deleting asks first, naming what goes.
    await page.locator('tr', { hasText: 'orchard' }).getByRole('button', { name: 'Delete' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByText('Delete knowledge base "orchard" with its 0 documents and 0 chunks?', { exact: false }).waitFor();
    await dialog.getByRole('button', { name: 'Confirm' }).click();
    await page.locator('table').getByRole('link', { name: 'orchard', exact: true }).waitFor({ state: 'detached' });
  });

  it('uploads a PDF and a folder and watches every stage reach ready, live', async () => {
    await page.goto(`${server.url}/kbs/default/documents`);
    await page.getByTestId('live').getByText('live').waitFor();
    await page.getByTestId('pick-files').setInputFiles(join(files, 'report.pdf'));
    await page.getByTestId('pick-folder').setInputFiles(join(files, 'handbook'));
    for (const name of ['report.pdf', 'intro.md', '简介.md', 'notes.txt']) {
      await doc(name).and(page.locator('[data-status="ready"]')).waitFor({ timeout: 60_000 });
      const states = await doc(name).locator('.timeline .step').evaluateAll((els) => els.map((e) => e.className));
      // queued, parsing, OCR (skipped: nothing to recognize, shown done), chunking, embedding, indexing, ready.
      assert.deepEqual(states, Array(7).fill('step done'), `${name}: queued → … → ready all done`);
    }
    // The same bytes again: shown as a duplicate, nothing new queued.
    await page.getByTestId('pick-files').setInputFiles(join(files, 'report.pdf'));
    await page.locator('.uploaded').getByText('duplicate').waitFor();
    await shot('documents');
  });

  it('shows a document that failed, with its error, and retries it from the failed stage', async () => {
    fake.setBehavior({ embeddings: { down: true } });
    await page.getByTestId('pick-files').setInputFiles(join(files, 'flaky.txt'));
    await doc('flaky.txt').and(page.locator('[data-status="failed"]')).waitFor({ timeout: 60_000 });
    assert.match(await doc('flaky.txt').locator('.error').innerText(), /embed/);
    assert.equal(await doc('flaky.txt').locator('.step.failed').innerText(), 'failed');
    await shot('document-failed');
    const parsesBefore = fake.stats.requests.embeddings;
    fake.setBehavior({ embeddings: { down: false } });
    await doc('flaky.txt').getByRole('button', { name: 'Retry' }).click();
    await doc('flaky.txt').and(page.locator('[data-status="ready"]')).waitFor({ timeout: 60_000 });
    assert.ok(fake.stats.requests.embeddings > parsesBefore, 'the retry ran the embed stage again');
  });

  it("opens a document's chunks with heading path, page and token count", async () => {
    await doc('report.pdf').getByRole('link', { name: 'Inspect' }).click();
    await page.getByRole('heading', { name: /Document: report\.pdf/ }).waitFor();
    await page.getByTestId('chunk').first().waitFor();
    const first = await page.getByTestId('chunk').first().innerText();
    assert.match(first, /Page 1/);
    assert.match(first, /Tokens \d+/);
    assert.match(first, /Apples grow on trees/);
    await shot('document-inspector');
    // A PDF chunk opens its page: the stored file, fetched with the session's key, in a new tab at #page=N.
    const [file, tab] = await Promise.all([
      page.waitForResponse((r) => /\/v1\/kbs\/default\/documents\/[^/]+\/file$/.test(r.url())),
      page.context().waitForEvent('page'),
      page.getByTestId('chunk').first().getByRole('button', { name: 'open page 1' }).click(),
    ]);
    assert.equal(file.status(), 200);
    assert.equal(file.headers()['content-type'], 'application/pdf');
    assert.equal(file.request().headers()['authorization'], `Bearer ${acmeKey}`);
    assert.equal(Number(file.headers()['content-length']), (await readFile(join(files, 'report.pdf'))).byteLength, 'the whole file');
    // Chromium's PDF viewer shows it under the console's CSP unchanged (checked by hand; the
    // rendering itself is the browser's business, not asserted here).
    await tab.waitForURL(/^blob:.*#page=1$/);
    await tab.close();
    // The text view: the whole document from its chunks, in order.
    await page.getByRole('button', { name: 'Text', exact: true }).click();
    assert.match(await page.getByTestId('document-text').innerText(), /Apples grow on trees[\s\S]*harvested in autumn/, 'both pages, in order');
  });

  it('runs the retrieval lab: lexical, vector and hybrid side by side with ranks and timings', async () => {
    await page.goto(`${server.url}/kbs/default/lab`);
    await page.getByLabel('Question').fill('when are apples harvested');
    await page.getByRole('button', { name: 'Run' }).click();
    for (const mode of ['lexical', 'vector', 'hybrid']) {
      await page.getByTestId(`lab-${mode}`).locator('.hit').first().waitFor();
    }
    const hybrid = await page.getByTestId('lab-hybrid').locator('.hit').first().innerText();
    assert.match(hybrid, /Lexical\s*#\d+/);
    assert.match(hybrid, /Fused\s*#1/);
    assert.match(await page.getByTestId('lab-lexical').innerText(), /retrieve [\d.]+ ms/);
    await shot('retrieval-lab');
  });

  it('chats with a streamed answer and opens a citation in its document', async () => {
    await page.goto(`${server.url}/kbs/default/chat`);
    fake.setBehavior({ tokenDelayMs: 15 });
    await page.getByPlaceholder('Ask a question…').fill('When are apples harvested?');
    await page.getByRole('button', { name: 'Send' }).click();
    await page.getByTestId('answer').getByText('harvested in autumn').waitFor();
    await page.getByRole('button', { name: 'Send' }).waitFor();
    const chip = page.getByTestId('answer').locator('a.chip').first();
    await chip.waitFor();
    await shot('chat');
    await chip.click();
    await page.locator('.chunk.focus').waitFor();
    assert.match(page.url(), /\/kbs\/default\/documents\/[^/?]+\?chunk=/);
  });

  it('stops a streamed answer and aborts the model call', async () => {
    await page.goto(`${server.url}/kbs/default/chat`);
    fake.setBehavior({ tokenDelayMs: 400, answer: 'word '.repeat(200) });
    const aborted = fake.stats.aborted;
    await page.getByPlaceholder('Ask a question…').fill('Tell me everything about pears, slowly');
    await page.getByRole('button', { name: 'Send' }).click();
    await page.getByTestId('answer').last().getByText('word').first().waitFor();
    await page.getByRole('button', { name: 'Stop' }).click();
    await page.locator('.answer').last().getByText('stopped').waitFor();
    const deadline = Date.now() + 10_000;
    while (fake.stats.aborted === aborted && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.ok(fake.stats.aborted > aborted, 'the upstream model call was aborted');
    fake.setBehavior({ tokenDelayMs: 0, answer: ANSWER });
  });

  it('shows the operations panel', async () => {
    await page.goto(`${server.url}/ops`);
    await page.getByTestId('ops-requests').waitFor();
    await page.getByText('Queue by stage').waitFor();
    await shot('operations');
  });

  it('switches to Chinese', async () => {
    await page.goto(`${server.url}/kbs/default/documents`);
    await page.getByTestId('lang').selectOption('zh');
    await page.getByRole('heading', { name: 'default 的文档' }).waitFor();
    assert.equal(await page.locator('html').getAttribute('lang'), 'zh-CN');
    await doc('简介.md').getByText('就绪').first().waitFor();
    await shot('documents-zh');
    await page.getByTestId('lang').selectOption('en');
  });

  it('is usable on a phone screen', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${server.url}/kbs/default/chat`);
    await page.getByRole('button', { name: 'Send' }).waitFor();
    // A string: the root tsconfig has no DOM types (this runs in the page).
    const overflow = (await page.evaluate('document.documentElement.scrollWidth - window.innerWidth')) as number;
    assert.ok(overflow <= 1, `no sideways scrolling (overflow ${overflow}px)`);
    await shot('chat-phone');
    await page.setViewportSize({ width: 1280, height: 860 });
  });

  it('signs in as admin: tenants, keys minted once, settings', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key or admin key').fill(ADMIN_KEY);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Admin' }).waitFor();
    await page.getByRole('button', { name: 'acme', exact: true }).click();
    await page.getByRole('button', { name: 'Mint a key' }).click();
    const minted = await page.getByTestId('minted-key').innerText();
    assert.match(minted, /\S{20,}/);
    const res = await fetch(`${server.url}/v1/kbs`, { headers: { authorization: `Bearer ${minted}` } });
    assert.equal(res.status, 200, 'the minted key works');
    // Test connection: one real call per provider, through the tenant's own path.
    await page.getByTestId('provider-embed').getByRole('button', { name: 'Test connection' }).click();
    await page.getByTestId('provider-embed').getByText(/Connection works/).waitFor();
    await page.getByTestId('provider-llm').getByRole('button', { name: 'Test connection' }).click();
    await page.getByTestId('provider-llm').getByText(/Connection works/).waitFor();
    await page.getByTestId('provider-rerank').getByRole('button', { name: 'Test connection' }).click();
    await page.getByTestId('provider-rerank').getByText('none configured').waitFor();
    await shot('admin');
    // A provider that is down says so (last: its breaker may stay open a while).
    fake.setBehavior({ chat: { down: true } });
    await page.getByTestId('provider-llm').getByRole('button', { name: 'Test connection' }).click();
    await page.getByTestId('provider-llm').locator('.error').waitFor({ timeout: 60_000 });
    fake.setBehavior({ chat: { down: false } });
  });
});
