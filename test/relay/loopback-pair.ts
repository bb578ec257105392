// A real WebSocket pair on 127.0.0.1 for relay unit tests that drive relay/outgoing.ts directly:
// the client end (not yet open: attach handlers, then await 'open') and the server end, which
// the test wraps as a relay connection. Closers stop both and the server.
import { WebSocket, WebSocketServer } from 'ws';

export async function loopbackSocketPair(closers: (() => Promise<void> | void)[]): Promise<{ ws: WebSocket; serverSide: Promise<WebSocket> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  closers.push(() => new Promise<void>((r) => wss.close(() => r())));
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const address = wss.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const serverSide = new Promise<WebSocket>((r) => wss.once('connection', r));
  const ws = new WebSocket(`ws://127.0.0.1:${port}`);
  closers.push(() => ws.terminate());
  return { ws, serverSide };
}
