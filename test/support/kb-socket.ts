import WebSocket from 'ws';

/**
 * Opens a KB's event WebSocket with a tenant key (header) or a stream ticket (`?ticket=`); resolves
 * with the HTTP status of a refused upgrade, the close code of a socket closed before `hello`, or
 * the open socket once `hello` has arrived. Every message is collected in `messages`.
 */
export function openKbSocket(
  url: string,
  kb: string,
  auth: { key?: string | null; ticket?: string },
): Promise<{ status?: number; closeCode?: number; ws?: WebSocket; messages: any[] }> {
  const messages: any[] = [];
  const query = auth.ticket === undefined ? '' : `?ticket=${encodeURIComponent(auth.ticket)}`;
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/kbs/${kb}/events${query}`, auth.key ? { headers: { authorization: `Bearer ${auth.key}` } } : {});
  ws.on('message', (data) => messages.push(JSON.parse(String(data))));
  return new Promise((resolve, reject) => {
    ws.on('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0, messages });
      res.resume();
      ws.terminate();
    });
    ws.on('close', (code) => resolve({ closeCode: code, messages }));
    ws.on('error', (err) => (err.message.includes('Unexpected server response') ? undefined : reject(err)));
    const ready = setInterval(() => {
      if (messages.some((m) => m.type === 'hello')) {
        clearInterval(ready);
        resolve({ ws, messages });
      }
    }, 20);
    ws.on('close', () => clearInterval(ready));
  });
}
