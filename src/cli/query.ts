import pino from 'pino';
import { createLogger } from '../app/logger.js';
import type { Config } from '../config/config.js';
import { answerFirst, queryHttpStream } from './query-stream.js';
import {
  DEFAULT_TOP_K,
  MAX_TOP_K,
  SEARCH_MODES,
  type Citation,
  type QueryResult,
  type SearchMode,
} from '../services/query/types.js';
import { authHeader } from './credentials.js';

/**
 * `ragd query "<question>" [--kb default] [--top-k 5] [--mode hybrid] [--stream] [--only-context] [--json] [--embedded]`
 *
 * `--stream` prints the answer as the model generates it, then its sources; `--only-context`
 * asks for the sources alone (no answer is generated).
 *
 * Over HTTP: `POST /v1/kbs/{kb}/query`. With `--embedded`: the data directory is opened in this
 * process and the same query service runs here, no server needed.
 *
 * Printing goes through a QueryPrinter (context → tokens → done), the order in which a
 * streamed answer arrives, so `--stream` only has to feed SSE events into the same printer.
 */

type Env = Record<string, string | undefined>;

const SNIPPET_CHARS = 280;
const TENANT = 'default';

/** What a printer shows at the end; the HTTP answer and the in-process result both fit. */
export type PrintableResult = Pick<QueryResult, 'citations' | 'answer'> &
  Partial<Pick<QueryResult, 'pending_documents' | 'cached' | 'notice'>> & {
    timings_ms?: Partial<QueryResult['timings_ms']>;
  };

export interface QueryArgs {
  query: string;
  kb: string;
  topK: number;
  mode: SearchMode;
  /** Sources only, no generated answer. */
  onlyContext: boolean;
}

export interface QueryPrinter {
  /** The retrieved chunks, before any answer text. */
  context(citations: Citation[]): void;
  /** A piece of the answer (streaming); the non-streaming path sends the whole answer at once. */
  token(text: string): void;
  /** The end: notice, pending documents, timings. */
  done(result: PrintableResult): void;
}

/** Scores differ in scale by mode (BM25 can be tiny on a small corpus, RRF is ~0.03). */
function formatScore(score: number): string {
  return Math.abs(score) >= 1 ? score.toFixed(2) : score.toPrecision(3);
}

function snippet(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > SNIPPET_CHARS ? `${flat.slice(0, SNIPPET_CHARS - 1)}…` : flat;
}

/** `[n] document_name (page p) score` and a trimmed snippet per citation, then the answer. */
export function textPrinter(out: NodeJS.WritableStream = process.stdout): QueryPrinter {
  let answering = false;
  return {
    context(citations) {
      if (citations.length === 0) out.write('no matching passages\n');
      citations.forEach((c, i) => {
        const page = c.page !== null ? ` (page ${c.page})` : '';
        out.write(`[${i + 1}] ${c.document_name}${page} ${formatScore(c.score)}\n    ${snippet(c.text)}\n`);
      });
    },
    token(text) {
      if (!answering) out.write('\n');
      answering = true;
      out.write(text);
    },
    done(result) {
      if (answering) out.write('\n');
      const extras: string[] = [];
      if (result.notice) extras.push(result.notice);
      else if (result.pending_documents) extras.push(`${result.pending_documents} document(s) still being ingested are not searchable yet`);
      if (result.cached) extras.push('from cache');
      if (result.timings_ms?.total !== undefined) extras.push(`${Math.round(result.timings_ms.total)} ms`);
      if (extras.length > 0) out.write(`\n${extras.join(' · ')}\n`);
    },
  };
}

/** `--json`: the whole result as one JSON document at the end. */
export function jsonPrinter(out: NodeJS.WritableStream = process.stdout): QueryPrinter {
  let answer = '';
  return {
    context() {},
    token(text) {
      answer += text;
    },
    done(result) {
      out.write(`${JSON.stringify({ ...result, answer: result.answer ?? (answer || null) }, null, 2)}\n`);
    },
  };
}

export async function query(config: Config, positional: string[], env: Env, switches: Set<string>): Promise<number> {
  const text = positional.join(' ').trim();
  if (switches.has('help') || text === '') {
    console.error(
      'usage: ragd query "<question>" [--kb default] [--top-k 5] [--mode hybrid|lexical|vector] [--stream] [--only-context] [--json] [--embedded]',
    );
    return text === '' && !switches.has('help') ? 2 : 0;
  }
  const get = (name: string) => env[`RAGD_${name}`] ?? process.env[`RAGD_${name}`];
  const topK = Number(get('TOP_K') ?? DEFAULT_TOP_K);
  if (!Number.isInteger(topK) || topK < 1 || topK > MAX_TOP_K) {
    console.error(`--top-k must be an integer from 1 to ${MAX_TOP_K}`);
    return 2;
  }
  const mode = (get('MODE') ?? 'hybrid') as SearchMode;
  if (!SEARCH_MODES.includes(mode)) {
    console.error(`--mode must be one of ${SEARCH_MODES.join(', ')}`);
    return 2;
  }
  const args: QueryArgs = { query: text, kb: get('KB') ?? 'default', topK, mode, onlyContext: switches.has('only-context') };
  const stream = switches.has('stream') && !switches.has('json');
  const printer = switches.has('json') ? jsonPrinter() : stream ? answerFirst(textPrinter()) : textPrinter();
  try {
    if (switches.has('embedded')) {
      await queryEmbedded(config, args, printer);
    } else if (stream) {
      await queryHttpStream(serverUrl(config, env), args, printer);
    } else {
      const result = await queryHttp(serverUrl(config, env), args);
      printer.context(result.citations);
      if (result.answer) printer.token(result.answer);
      printer.done(result);
    }
    return 0;
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    return 1;
  }
}

function serverUrl(config: Config, env: Env): string {
  const explicit = env.RAGD_URL ?? process.env.RAGD_URL;
  if (explicit) return explicit.replace(/\/+$/, '');
  // A server listening on every interface is reached on loopback.
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.port}`;
}

async function queryHttp(url: string, a: QueryArgs): Promise<PrintableResult> {
  let res: Response;
  try {
    res = await fetch(`${url}/v1/kbs/${encodeURIComponent(a.kb)}/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...authHeader() },
      body: JSON.stringify({ query: a.query, top_k: a.topK, mode: a.mode, only_context: a.onlyContext }),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`cannot reach ragd at ${url} (${cause?.code ?? cause?.message ?? 'fetch failed'}): start it with \`ragd serve\`, pass --url, or use --embedded`);
  }
  const body = (await res.json().catch(() => null)) as (PrintableResult & { error?: { code?: string; message?: string } }) | null;
  if (res.status === 404 && /^no route/i.test(body?.error?.message ?? '')) {
    // An older server without the query route: the data directory can still be searched here.
    throw new Error(`the server at ${url} has no query route; run with --embedded to search its data directory directly`);
  }
  if (!res.ok || !body) {
    throw new Error(body?.error?.message ? `HTTP ${res.status} ${body.error.code ?? ''}: ${body.error.message}` : `HTTP ${res.status}`);
  }
  return { ...body, citations: body.citations ?? [], answer: body.answer ?? null };
}

/**
 * In this process, on the data directory: the same query service the server runs, so results
 * match. The pipeline is not started: a query must not pick up ingestion jobs. The service's
 * hooks are the printer's own steps, so this path already streams.
 */
async function queryEmbedded(config: Config, a: QueryArgs, printer: QueryPrinter): Promise<void> {
  const { createRuntime, NO_ROLES } = await import('../app/runtime.js');
  // Logs go to stderr and stay quiet unless asked for.
  const level = process.env.RAGD_LOG_LEVEL ? config.logLevel : 'warn';
  const runtime = await createRuntime(config, createLogger(level, { destination: pino.destination(2) }), { roles: NO_ROLES });
  try {
    let contextShown = false;
    const result = await runtime.query.service.run(
      { tenantId: TENANT, kbId: a.kb },
      { query: a.query, mode: a.mode, topK: a.topK, onlyContext: a.onlyContext },
      {
        onContext: (ctx) => {
          contextShown = true;
          printer.context(ctx.citations);
        },
        onToken: (t) => printer.token(t),
      },
    );
    if (!contextShown) printer.context(result.citations);
    printer.done(result);
  } finally {
    await runtime.close();
  }
}
