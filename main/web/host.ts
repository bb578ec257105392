// Browser mode: serves the built renderer and the shared/api.ts contract over a WebSocket, on
// 127.0.0.1 only. Other local users' processes and web pages in the user's browser are the
// adversaries here, so every request and socket upgrade must:
//   - name our host in Host (defeats DNS rebinding: evil.example resolving to 127.0.0.1),
//   - carry no foreign Origin / cross-site Sec-Fetch-Site (defeats CSRF and cross-site sockets),
//   - hold the session: the URL carries a ONE-TIME launch code (it may be seen by others, e.g.
//     in Chromium's command line); the first request presenting it gets a fresh random session
//     secret in an HttpOnly, SameSite=Strict cookie scoped by port, and the code is dead. Every
//     later request, and the /api socket (cookie only, nothing in its URL), needs that cookie.
// Responses carry the same CSP as the Electron window.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { EphemeraService } from '../../shared/api.ts';
import { CallFrame, checkEvent, dispatchCall, type EventFrame, type ResultFrame } from '../../shared/api/rpc.ts';
import { securityHeaders } from './csp.ts';
import { resolveStaticFile } from './static.ts';

export const WEB_HOST_ADDRESS = '127.0.0.1';
export const SOCKET_PATH = '/api';
/** Frames are small JSON; a long message is 64 KiB of text. */
const MAX_FRAME_BYTES = 512 * 1024;
/** Calls in flight per socket; more is a misbehaving page. */
const MAX_PENDING_CALLS = 64;

export interface WebHostOptions {
  service: EphemeraService;
  /** The built renderer (dist/renderer). */
  rendererDir: string;
  /** 0 (default) picks a free port. */
  port?: number;
}

export interface WebHost {
  /** The URL to open, with the one-time launch code: it works for the first request only. */
  readonly url: string;
  readonly origin: string;
  readonly port: number;
  close(): Promise<void>;
}

/** The query parameter that carries the launch code in `url`. */
export const LAUNCH_CODE_PARAM = 'code';

type Verdict = { ok: true } | { ok: false; status: 400 | 401 | 403 | 421; reason: string };

function timingSafeEqualText(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && crypto.timingSafeEqual(ab, bb);
}

function parseCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) cookies.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  return cookies;
}

export async function startWebHost(options: WebHostOptions): Promise<WebHost> {
  const launchCode = crypto.randomBytes(32).toString('base64url');
  let launchCodeUsed = false;
  /** Minted when the launch code is redeemed; never derived from the code, never in a URL. */
  let sessionSecret: string | undefined;
  const server = http.createServer();
  const sockets = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, WEB_HOST_ADDRESS, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('web host has no TCP address');
  const port = address.port;
  const origin = `http://${WEB_HOST_ADDRESS}:${port}`;
  const allowedHosts = new Set([`${WEB_HOST_ADDRESS}:${port}`, `localhost:${port}`]);
  const allowedOrigins = new Set([origin, `http://localhost:${port}`]);
  const cookieName = `ephemera_${port}`; // cookies ignore ports; two hosts must not clobber each other
  const headers = securityHeaders({ connectSrc: [`ws://${WEB_HOST_ADDRESS}:${port}`, `ws://localhost:${port}`] });

  function checkPeer(req: http.IncomingMessage, upgrade: boolean): Verdict {
    const host = req.headers.host;
    if (!host || !allowedHosts.has(host.toLowerCase())) return { ok: false, status: 421, reason: 'Wrong host.' };
    const requestOrigin = req.headers.origin;
    if (upgrade && requestOrigin === undefined) return { ok: false, status: 403, reason: 'Missing origin.' };
    if (requestOrigin !== undefined && !allowedOrigins.has(requestOrigin)) return { ok: false, status: 403, reason: 'Foreign origin.' };
    const site = req.headers['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin' && site !== 'none') return { ok: false, status: 403, reason: 'Cross-site request.' };
    return { ok: true };
  }

  function hasSession(req: http.IncomingMessage): boolean {
    const fromCookie = parseCookies(req.headers.cookie).get(cookieName);
    return sessionSecret !== undefined && fromCookie !== undefined && timingSafeEqualText(fromCookie, sessionSecret);
  }

  /** True once, for the first request that presents the code; the code is dead afterwards. */
  function redeemLaunchCode(presented: string): boolean {
    if (launchCodeUsed || !timingSafeEqualText(presented, launchCode)) return false;
    launchCodeUsed = true;
    sessionSecret = crypto.randomBytes(32).toString('base64url');
    return true;
  }

  function refuse(res: http.ServerResponse, status: number, reason: string): void {
    res.writeHead(status, { ...headers, 'Content-Type': 'text/plain; charset=utf-8' });
    res.end(`${reason}\n`);
  }

  server.on('request', (req, res) => {
    const peer = checkPeer(req, false);
    if (!peer.ok) return refuse(res, peer.status, peer.reason);
    let url: URL;
    try {
      url = new URL(req.url ?? '/', origin);
    } catch {
      return refuse(res, 400, 'Bad request.');
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return refuse(res, 405, 'Method not allowed.');
    const presented = url.searchParams.get(LAUNCH_CODE_PARAM);
    if (presented !== null) {
      url.searchParams.delete(LAUNCH_CODE_PARAM);
      const location = url.pathname + url.search;
      // A browser that already holds the session (the printed address opened again) just
      // drops the dead code from the address; it gains nothing it did not have.
      if (hasSession(req)) {
        res.writeHead(303, { ...headers, Location: location });
        return res.end();
      }
      if (!redeemLaunchCode(presented)) {
        return refuse(res, 403, 'This address was already used (it works once). Restart Ephemera to get a new one.');
      }
      // Trade the code for a session cookie (no Max-Age: it ends with the browser session) and
      // drop the code from the address bar and history.
      res.writeHead(303, {
        ...headers,
        'Set-Cookie': `${cookieName}=${sessionSecret}; HttpOnly; SameSite=Strict; Path=/`,
        Location: location,
      });
      return res.end();
    }
    if (!hasSession(req)) return refuse(res, 401, 'Open the address printed by Ephemera when it started (it works once).');
    const found = resolveStaticFile(options.rendererDir, url.pathname);
    if (!found.ok) return refuse(res, found.status, found.status === 404 ? 'Not found.' : 'Bad request.');
    res.writeHead(200, { ...headers, 'Content-Type': found.contentType });
    if (req.method === 'HEAD') return res.end();
    fs.createReadStream(found.file).pipe(res);
  });

  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const peer = checkPeer(req, true);
    let url: URL | undefined;
    try {
      url = new URL(req.url ?? '/', origin);
    } catch {
      url = undefined;
    }
    // The session cookie only: a secret in the socket URL could leak (logs, history, cmdlines).
    const ok = peer.ok && url !== undefined && url.pathname === SOCKET_PATH && hasSession(req);
    if (!ok) {
      const status = peer.ok ? (url?.pathname === SOCKET_PATH ? 401 : 404) : peer.status;
      socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Refused'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    sockets.handleUpgrade(req, socket, head, (ws) => serveSocket(ws));
  });

  const live = new Set<WebSocket>();

  function serveSocket(ws: WebSocket): void {
    live.add(ws);
    let pending = 0;
    ws.on('close', () => live.delete(ws));
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) return ws.close(1003, 'text frames only');
      let frame: CallFrame;
      try {
        const parsed = CallFrame.safeParse(JSON.parse(data.toString()));
        if (!parsed.success) return ws.close(1008, 'malformed frame');
        frame = parsed.data;
      } catch {
        return ws.close(1008, 'malformed frame');
      }
      if (pending >= MAX_PENDING_CALLS) return ws.close(1008, 'too many calls in flight');
      pending++;
      void dispatchCall(options.service, frame.method, frame.params).then((outcome) => {
        pending--;
        const reply: ResultFrame = { t: 'result', id: frame.id, outcome };
        if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(reply));
      });
    });
  }

  const unsubscribe = options.service.subscribe((event) => {
    const checked = checkEvent(event.name, event.payload);
    if (!checked) return;
    const frame: EventFrame = { t: 'event', name: checked.name, payload: checked.payload };
    const text = JSON.stringify(frame);
    for (const ws of live) if (ws.readyState === ws.OPEN) ws.send(text);
  });

  return {
    url: `${origin}/?${LAUNCH_CODE_PARAM}=${launchCode}`,
    origin,
    port,
    close: async () => {
      unsubscribe();
      for (const ws of live) ws.terminate();
      sockets.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
