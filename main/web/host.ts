// Browser mode: serves the built renderer and the shared/api.ts contract over a WebSocket, on
// 127.0.0.1 only. Other local users' processes and web pages in the user's browser are the
// adversaries here, so every request and socket upgrade must:
//   - name our host in Host (defeats DNS rebinding: evil.example resolving to 127.0.0.1),
//   - carry no foreign Origin / cross-site Sec-Fetch-Site (defeats CSRF and cross-site sockets),
//   - and, on the /api socket only, authenticate in-band (shared/api/socket-auth.ts): the first
//     frame presents the ONE-TIME launch code (in the launch URL's fragment, which the browser
//     never sends to a server; it may be seen by others, e.g. in Chromium's command line) or the
//     session secret minted, once, when that code was redeemed. No cookie is ever set: cookies
//     are not isolated by port, so every other server on 127.0.0.1 would receive it. Until a
//     socket is authenticated it gets no answer to anything and no event; it is closed if it
//     does not authenticate within a few seconds.
// The static files (the renderer bundle) are not secret and need no credential. Responses carry
// the same CSP as the Electron window.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { EphemeraService } from '../../shared/api.ts';
import { CallFrame, checkEvent, dispatchCall, type EventFrame, type ResultFrame } from '../../shared/api/rpc.ts';
import { AUTH_REFUSED_CLOSE, AUTH_TIMEOUT_CLOSE, AuthFrame, LAUNCH_CODE_FRAGMENT_PARAM, type AuthOkFrame } from '../../shared/api/socket-auth.ts';
import { folderPolicy, withBackupFilePolicy } from '../backup-files.ts';
import { securityHeaders } from './csp.ts';
import { resolveStaticFile } from './static.ts';

export const WEB_HOST_ADDRESS = '127.0.0.1';
export const SOCKET_PATH = '/api';
/** Frames are small JSON; a long message is 64 KiB of text. */
const MAX_FRAME_BYTES = 512 * 1024;
/** Calls in flight per socket; more is a misbehaving page. */
const MAX_PENDING_CALLS = 64;
/** How long a socket may stay open without authenticating. */
const DEFAULT_AUTH_TIMEOUT_MS = 5000;

export interface WebHostOptions {
  service: EphemeraService;
  /** The built renderer (dist/renderer). */
  rendererDir: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /**
   * The only folder backups are written to and read from: the browser has no native file
   * dialog, so the page names a file in it (main/backup-files.ts).
   */
  backupDir: string;
  /** Unauthenticated sockets are closed after this long (default 5 s). */
  authTimeoutMs?: number;
}

export interface WebHost {
  /** The URL to open, with the one-time launch code in its fragment (`/#code=…`): it works once. */
  readonly url: string;
  readonly origin: string;
  readonly port: number;
  close(): Promise<void>;
}

type Verdict = { ok: true } | { ok: false; status: 400 | 401 | 403 | 421; reason: string };

function timingSafeEqualText(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && crypto.timingSafeEqual(ab, bb);
}

export async function startWebHost(options: WebHostOptions): Promise<WebHost> {
  const launchCode = crypto.randomBytes(32).toString('base64url');
  let launchCodeUsed = false;
  /** Minted when the launch code is redeemed; never derived from the code, never in a URL. */
  let sessionSecret: string | undefined;
  const service = withBackupFilePolicy(options.service, folderPolicy(options.backupDir));
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

  /** The session secret if the frame's credential is good; redeeming the code spends it. */
  function authenticate(frame: AuthFrame): string | undefined {
    if ('session' in frame) return sessionSecret !== undefined && timingSafeEqualText(frame.session, sessionSecret) ? sessionSecret : undefined;
    if (launchCodeUsed || !timingSafeEqualText(frame.launchCode, launchCode)) return undefined;
    launchCodeUsed = true;
    sessionSecret = crypto.randomBytes(32).toString('base64url');
    return sessionSecret;
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
    // No credential here: the bundle is not secret, and whatever a request carries (a cookie,
    // a code in the query) grants nothing. Only the socket's auth frame does.
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
    // Nothing in the upgrade request is a credential (a secret in the socket URL could leak to
    // logs, history, cmdlines); the socket authenticates with its first frame.
    const ok = peer.ok && url !== undefined && url.pathname === SOCKET_PATH;
    if (!ok) {
      const status = peer.ok ? 404 : peer.status;
      socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Refused'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    sockets.handleUpgrade(req, socket, head, (ws) => serveSocket(ws));
  });

  const live = new Set<WebSocket>();

  const authTimeoutMs = options.authTimeoutMs ?? DEFAULT_AUTH_TIMEOUT_MS;

  function serveSocket(ws: WebSocket): void {
    // Unauthenticated: not in `live` (no events), no call dispatched, closed after a timeout.
    let authenticated = false;
    let pending = 0;
    const authTimer = setTimeout(() => ws.close(AUTH_TIMEOUT_CLOSE, 'not authenticated'), authTimeoutMs);
    ws.on('close', () => {
      clearTimeout(authTimer);
      live.delete(ws);
    });
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) return ws.close(1003, 'text frames only');
      if (!authenticated) {
        // Exactly one attempt: the first frame authenticates or the socket is closed.
        clearTimeout(authTimer);
        let session: string | undefined;
        try {
          const parsed = AuthFrame.safeParse(JSON.parse(data.toString()));
          session = parsed.success ? authenticate(parsed.data) : undefined;
        } catch {
          session = undefined;
        }
        if (session === undefined) return ws.close(AUTH_REFUSED_CLOSE, 'not authenticated');
        authenticated = true;
        live.add(ws);
        const ok: AuthOkFrame = { t: 'auth-ok', session };
        ws.send(JSON.stringify(ok));
        return;
      }
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
      void dispatchCall(service, frame.method, frame.params).then((outcome) => {
        pending--;
        const reply: ResultFrame = { t: 'result', id: frame.id, outcome };
        if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(reply));
      });
    });
  }

  const unsubscribe = service.subscribe((event) => {
    const checked = checkEvent(event.name, event.payload);
    if (!checked) return;
    const frame: EventFrame = { t: 'event', name: checked.name, payload: checked.payload };
    const text = JSON.stringify(frame);
    for (const ws of live) if (ws.readyState === ws.OPEN) ws.send(text);
  });

  return {
    url: `${origin}/#${LAUNCH_CODE_FRAGMENT_PARAM}=${launchCode}`,
    origin,
    port,
    close: async () => {
      unsubscribe();
      for (const ws of sockets.clients) ws.terminate();
      sockets.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
