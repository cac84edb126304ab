/**
 * Server-Sent Events read from a `fetch` body, so the request can carry an Authorization header
 * (EventSource cannot) and be aborted with an AbortController (the stop button).
 */

export interface SseEvent {
  event: string;
  data: string;
}

/**
 * Incremental parser: feed it text as it arrives; it returns the events completed so far and
 * keeps the unfinished tail. Comments (`: ping`) are dropped; multi-line data is joined with \n.
 */
export class SseParser {
  private buffer = '';
  /** A chunk ending in \r may be half of a \r\n: held back until the next chunk says. */
  private carriage = false;

  push(text: string): SseEvent[] {
    let raw = (this.carriage ? '\r' : '') + text;
    this.carriage = raw.endsWith('\r');
    if (this.carriage) raw = raw.slice(0, -1);
    this.buffer += raw.replace(/\r\n?/g, '\n');
    const out: SseEvent[] = [];
    let end: number;
    while ((end = this.buffer.indexOf('\n\n')) !== -1) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line === '' || line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        let value = colon === -1 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
      }
      if (data.length > 0) out.push({ event, data: data.join('\n') });
    }
    return out;
  }
}

/** Reads a streamed response body event by event until it ends (or the fetch is aborted). */
export async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const parser = new SseParser();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      yield* parser.push(decoder.decode(value, { stream: true }));
    }
  } finally {
    reader.releaseLock();
  }
}
