import type { Citation } from '../services/query/types.js';
import { readSse } from './sse-reader.js';
import type { PrintableResult, QueryArgs, QueryPrinter } from './query.js';
import { authHeader } from './credentials.js';

/**
 * `ragd query --stream` over HTTP: POST with `stream: true` and feed the Server-Sent Events
 * (`context`, `token`…, `done` | `error`) into the printer as they arrive. Ctrl-C closes the
 * connection, which makes the server abort the model call at once.
 */
export async function queryHttpStream(url: string, a: QueryArgs & { onlyContext: boolean }, printer: QueryPrinter): Promise<void> {
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once('SIGINT', onSigint);
  try {
    const res = await fetch(`${url}/v1/kbs/${encodeURIComponent(a.kb)}/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...authHeader() },
      body: JSON.stringify({ query: a.query, top_k: a.topK, mode: a.mode, only_context: a.onlyContext, stream: true }),
      signal: controller.signal,
    });
    if (!res.ok || !res.body) {
      const body = (await res.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
      throw new Error(body?.error?.message ? `HTTP ${res.status} ${body.error.code ?? ''}: ${body.error.message}` : `HTTP ${res.status}`);
    }
    let citations: Citation[] = [];
    for await (const { event, data } of readSse(res.body)) {
      const payload = JSON.parse(data) as Record<string, unknown>;
      if (event === 'context') {
        citations = (payload.citations as Citation[]) ?? [];
        printer.context(citations);
      } else if (event === 'token') {
        printer.token(String(payload.text ?? ''));
      } else if (event === 'done') {
        printer.done({ ...(payload as Partial<PrintableResult>), citations, answer: (payload.answer as string | null) ?? null });
        return;
      } else if (event === 'error') {
        throw new Error(`${String(payload.code)}: ${String(payload.message)}`);
      }
    }
    throw new Error('the server closed the stream before the answer was complete');
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}

/**
 * For a person watching `--stream`: the answer as it is generated first, then its numbered
 * sources and the summary line (the SSE order is sources first, so they are held back).
 */
export function answerFirst(inner: QueryPrinter, out: NodeJS.WritableStream = process.stdout): QueryPrinter {
  let held: Citation[] = [];
  let answered = false;
  return {
    context(citations) {
      held = citations;
    },
    token(text) {
      answered = true;
      out.write(text);
    },
    done(result) {
      if (answered) out.write('\n\n');
      inner.context(held);
      inner.done(result);
    },
  };
}
