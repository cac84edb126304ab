import { readFileSync } from 'node:fs';
import { request } from 'node:http';

/** Peak and current resident memory of a process, from /proc (Linux). */
export function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/** Streams a multipart upload of `bytes` bytes taken from `pieces`, never holding the file in memory. */
export function streamUpload(
  url: string,
  a: { filename: string; contentType: string; bytes: number; pieces: Iterator<Buffer> },
): Promise<{ status: number; body: string }> {
  const boundary = `----ragd${Date.now()}`;
  const head = Buffer.from(
    `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="${a.filename}"\r\ncontent-type: ${a.contentType}\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  return new Promise((resolve, reject) => {
    const req = request(`${url}/v1/kbs/default/documents`, {
      method: 'POST',
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': head.length + a.bytes + tail.length },
    });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    let sent = 0;
    const pump = () => {
      while (sent < a.bytes) {
        const next = a.pieces.next();
        if (next.done) return void req.destroy(new Error(`pieces ended after ${sent} of ${a.bytes} bytes`));
        const piece = next.value.subarray(0, a.bytes - sent);
        sent += piece.length;
        if (!req.write(piece)) return void req.once('drain', pump);
      }
      req.end(tail);
    };
    req.write(head);
    pump();
  });
}
