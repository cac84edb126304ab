/**
 * Shared pieces of the query integration tests: a small corpus with known answers, and helpers
 * for posting queries and reading streamed answers over real HTTP.
 */
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.js';
import { makePdf } from '../support/fixtures.js';
import { type Env, readSse, requestJson, type SseEvent, startTestServer, type TestServer, uploadFile, waitReady } from '../support/server.js';

export interface Citation {
  document_id: string;
  document_name: string;
  chunk_id: string;
  text: string;
  score: number;
  page: number | null;
}

export interface QueryAnswer {
  answer: string | null;
  answer_kind: 'llm' | 'extractive' | null;
  citations: Citation[];
  pending_documents: number;
  notice?: string;
  cached: boolean;
  rerank?: { applied: boolean; fallback_reason?: string };
  timings_ms: { retrieve: number; rerank: number; generate: number; total: number };
}

export const TEXT_DOCS = [
  {
    name: 'volcano.txt',
    text:
      'Mount Kilimanjaro is a dormant volcano in Tanzania. Its highest summit, Uhuru Peak, rises 5,895 metres above sea level. ' +
      'Climbers usually need about a week to reach the crater rim.',
    metadata: { topic: 'geography', year: 2020 },
  },
  {
    name: 'otters.txt',
    text:
      'Sea otters use rocks as tools to crack open shellfish. Sea otters hold hands while sleeping so that they do not drift apart. ' +
      'Their fur is the densest of any animal.',
    metadata: { topic: 'animals', year: 2021 },
  },
  {
    name: 'coffee.md',
    text: '# Coffee\n\nCoffee beans are the seeds of the Coffea plant. Espresso is brewed by forcing hot water through finely ground coffee.',
    metadata: { topic: 'food', reviewed: true },
  },
];

/** Page 2 holds the one fact about the wifi network. */
export const PDF_PAGES = [
  ['Welcome to the employee handbook. This document explains working hours, public holidays, the canteen menu, and how to request equipment from the facilities team.'],
  ['Office network access for visitors: the guest wifi network is called Zebrafish Guest, and the password is printed on the back of every visitor badge issued at reception.'],
  ['Parking is available in the basement garage from seven in the morning until ten at night, and electric cars can charge at the bays next to the lift.'],
];

export interface Corpus {
  ids: Record<string, string>;
}

export async function postJson(url: string, body: unknown): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
}

export async function uploadJson(url: string, kb: string, doc: { name: string; text: string; metadata?: object }): Promise<string> {
  const res = await postJson(`${url}/v1/kbs/${kb}/documents`, doc);
  if (res.status !== 202) throw new Error(`upload ${doc.name}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.documents[0].id as string;
}

/** Creates `kb` and fills it with the text documents and the three-page PDF, all ready. */
export async function seedCorpus(url: string, kb: string): Promise<Corpus> {
  await requestJson(`${url}/v1/kbs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: kb }) });
  const ids: Record<string, string> = {};
  for (const d of TEXT_DOCS) ids[d.name] = await uploadJson(url, kb, d);
  ids['handbook.pdf'] = (await uploadFile(url, kb, 'handbook.pdf', await makePdf(PDF_PAGES))).id;
  await waitReady(url, kb, Object.values(ids), { timeoutMs: 60_000 });
  return { ids };
}

export async function query(url: string, kb: string, body: Record<string, unknown>): Promise<QueryAnswer> {
  const res = await postJson(`${url}/v1/kbs/${kb}/query`, body);
  if (res.status !== 200) throw new Error(`query: HTTP ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as QueryAnswer;
}

/** POST a streaming query; returns the response (SSE body unread). */
export async function openStream(url: string, kb: string, body: Record<string, unknown>, signal?: AbortSignal): Promise<Response> {
  return fetch(`${url}/v1/kbs/${kb}/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...body, stream: true }),
    ...(signal ? { signal } : {}),
  });
}

export async function streamEvents(url: string, kb: string, body: Record<string, unknown>): Promise<SseEvent[]> {
  const res = await openStream(url, kb, body);
  if (res.status !== 200 || !res.body) throw new Error(`stream: HTTP ${res.status} ${await res.text()}`);
  const events: SseEvent[] = [];
  for await (const e of readSse(res.body)) events.push(e);
  return events;
}

/** Runs `fn` with process.env extended by `vars` (the query options are read from it at start-up). */
export async function startWithEnv(vars: Env): Promise<TestServer> {
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(vars)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  try {
    return await startTestServer(vars);
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

export const LLM_ANSWER = 'The guest network is Zebrafish Guest [1].';

/**
 * The stand-in model answering `answer`, and ragd using it with test-sized knobs (quick retries,
 * a breaker that opens after 3 calls and probes after 500 ms, results kept 1 s, small chunks so
 * each PDF page is its own chunk), with `kb` seeded.
 */
export async function startLlmServer(kb: string, answer: string): Promise<{ fake: FakeOpenAI; server: TestServer; corpus: Corpus }> {
  const fake = await startFakeOpenAI({ answer });
  try {
    const server = await startWithEnv({
      RAGD_LLM_BASE_URL: fake.url,
      RAGD_LLM_MODEL: 'fake-chat',
      RAGD_LLM_MAX_RETRIES: '2',
      RAGD_LLM_BACKOFF_MS: '10',
      RAGD_LLM_BREAKER_VOLUME: '3',
      RAGD_LLM_BREAKER_RESET_MS: '500',
      RAGD_RESULT_TTL_MS: '1000',
      RAGD_CHUNK_TOKENS: '48',
      RAGD_CHUNK_OVERLAP: '0',
    });
    try {
      return { fake, server, corpus: await seedCorpus(server.url, kb) };
    } catch (err) {
      await server.close();
      throw err;
    }
  } catch (err) {
    await fake.close();
    throw err;
  }
}
