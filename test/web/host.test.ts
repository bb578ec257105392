import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ApiError, methodNames, type ApiEvent, type EphemeraService } from '../../shared/api.ts';
import { createApiClient } from '../../shared/api/rpc.ts';
import { createSocketTransport, type SocketLike } from '../../shared/api/socket-client.ts';
import { AUTH_REFUSED_CLOSE, AUTH_TIMEOUT_CLOSE } from '../../shared/api/socket-auth.ts';
import { startWebHost, type WebHost } from '../../main/web/host.ts';
import { connectLaunchUrl, LaunchRefused, parseLaunchUrl } from '../../main/web/launch-client.ts';

// The web host is the unit under test here; the service behind it is a small stand-in that
// records calls (the real messenger is tested in its own suite).
function recordingService() {
  const listeners = new Set<(e: ApiEvent) => void>();
  const calls: string[] = [];
  const base: Record<string, unknown> = {};
  for (const m of methodNames) base[m] = () => Promise.reject(new ApiError('NOT_AVAILABLE', `${m} is not part of this test.`));
  const service = Object.assign(base, {
    vaultStatus: async () => {
      calls.push('vaultStatus');
      return { vault: 'none', recoveryConfirmed: false, account: null };
    },
    unlock: async ({ password }: { password: string }) => {
      calls.push('unlock');
      if (password !== 'right') throw Object.assign(new Error('The password is wrong.'), { code: 'WRONG_PASSWORD' });
      return { vault: 'unlocked', recoveryConfirmed: true, account: null };
    },
    lock: async () => {
      calls.push('lock');
    },
    subscribe: (l: (e: ApiEvent) => void) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
  }) as unknown as EphemeraService;
  return { service, calls, emit: (e: unknown) => listeners.forEach((l) => l(e as ApiEvent)) };
}

let tmp: string;
let renderer: string;
let host: WebHost;
/** The launch code is spent by the first test that presents it; this is the session it gave. */
let sessionSecret: string | undefined;
const svc = recordingService();

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ephemera-web-'));
  renderer = path.join(tmp, 'renderer');
  fs.mkdirSync(renderer);
  fs.writeFileSync(path.join(renderer, 'index.html'), '<!doctype html><title>Ephemera</title>');
  fs.writeFileSync(path.join(tmp, 'secret.txt'), 'TOP SECRET');
  host = await startWebHost({ service: svc.service, rendererDir: renderer, backupDir: path.join(tmp, 'backups') });
});

afterAll(async () => {
  await host.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(pathname: string, headers: Record<string, string> = {}, method = 'GET', port = host.port): Promise<Reply> {
  return new Promise((resolve, reject) => {
    // agent: false: a kept-alive socket could outlive the host it was opened to (same port, next launch).
    const req = http.request({ host: '127.0.0.1', port, agent: false, path: pathname, method, headers: { Host: `127.0.0.1:${port}`, ...headers } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Attempts a WebSocket upgrade with exactly these headers; returns 101 or the refusal status. */
function tryUpgrade(pathname: string, headers: Record<string, string>, port = host.port): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      agent: false,
      path: pathname,
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': crypto.randomBytes(16).toString('base64'),
        ...headers,
      },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

/** A raw socket to /api from our origin: what it received, and how it closed. */
async function rawSocket(target: WebHost = host, options: { path?: string; headers?: Record<string, string> } = {}) {
  const ws = new WebSocket(`ws://127.0.0.1:${target.port}${options.path ?? '/api'}`, { origin: target.origin, ...(options.headers ? { headers: options.headers } : {}) });
  const received: Record<string, unknown>[] = [];
  ws.on('message', (d) => received.push(JSON.parse(String(d)) as Record<string, unknown>));
  const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
  await new Promise((r, j) => (ws.once('open', r), ws.once('error', j)));
  const send = (frame: unknown) => ws.send(JSON.stringify(frame));
  /** Presents a credential as the first frame; resolves with the host's answer or the close code. */
  const auth = async (credential: Record<string, string>) => {
    send({ t: 'auth', ...credential });
    return Promise.race([closed.then((code) => ({ closed: code })), expect.poll(() => received.length).toBeGreaterThan(0).then(() => received[0]!)]);
  };
  return { ws, received, closed, send, auth };
}

const launchCode = (url = host.url) => parseLaunchUrl(url).launchCode;
const session = () => {
  if (!sessionSecret) throw new Error('the launch code has not been redeemed yet');
  return sessionSecret;
};
const callFrame = (id: number) => ({ t: 'call', id, method: 'vaultStatus' });

describe('web host: HTTP (the renderer bundle: no credential, and no cookie, ever)', () => {
  it('listens on 127.0.0.1 only and prints a URL with a random launch code in the fragment', () => {
    expect(host.url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${host.port}/#code=[A-Za-z0-9_-]{43}$`));
    expect(host.origin).toBe(`http://127.0.0.1:${host.port}`);
  });

  it('serves the renderer without a credential, with the same strict CSP as Electron, and never sets a cookie', async () => {
    const attempts = [
      await request('/'),
      // The old launch address shapes and any cookie: same answer, no cookie, nothing spent.
      await request(`/?code=${launchCode()}`),
      await request(`/?token=${launchCode()}`),
      await request('/', { Cookie: `ephemera_${host.port}=${launchCode()}` }),
      await request('/index.html', { Origin: host.origin, 'Sec-Fetch-Site': 'same-origin' }),
    ];
    for (const res of attempts) {
      expect(res.status).toBe(200);
      expect(res.body).toContain('<title>Ephemera</title>');
      expect(res.headers['set-cookie']).toBeUndefined();
      const csp = String(res.headers['content-security-policy']);
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain(`connect-src ws://127.0.0.1:${host.port}`);
      expect(csp).not.toContain('unsafe-inline');
      expect(csp).not.toContain('unsafe-eval');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    }
  });

  it('refuses a foreign Host header (DNS rebinding)', async () => {
    expect((await request('/', { Host: `evil.example:${host.port}` })).status).toBe(421);
    expect((await request('/', { Host: `127.0.0.1:${host.port + 1}` })).status).toBe(421);
  });

  it('refuses a foreign Origin or a cross-site fetch', async () => {
    expect((await request('/', { Origin: 'https://evil.example' })).status).toBe(403);
    expect((await request('/', { Origin: `http://127.0.0.1:${host.port + 1}` })).status).toBe(403);
    expect((await request('/', { 'Sec-Fetch-Site': 'cross-site' })).status).toBe(403);
    expect((await request('/', { 'Sec-Fetch-Site': 'same-site' })).status).toBe(403);
  });

  it('refuses path traversal and non-GET methods', async () => {
    for (const p of ['/../secret.txt', '/%2e%2e/secret.txt', '/..%2fsecret.txt', '/%5c..%5csecret.txt']) {
      const res = await request(p);
      expect(res.status, p).toBeGreaterThanOrEqual(400);
      expect(res.body).not.toContain('TOP SECRET');
    }
    expect((await request('/', {}, 'POST')).status).toBe(405);
  });
});

describe('web host: WebSocket, authenticated in-band', () => {
  it('upgrades only from our origin and host, on /api', async () => {
    const base = { Host: `127.0.0.1:${host.port}`, Origin: host.origin };
    expect(await tryUpgrade('/api', base)).toBe(101);
    expect(await tryUpgrade('/api', { Host: `localhost:${host.port}`, Origin: `http://localhost:${host.port}` })).toBe(101);
    expect(await tryUpgrade('/api', { ...base, Origin: 'https://evil.example' })).toBe(403);
    expect(await tryUpgrade('/api', { ...base, Origin: `http://127.0.0.1:${host.port + 1}` })).toBe(403); // a page on another loopback port
    expect(await tryUpgrade('/api', { ...base, Origin: 'null' })).toBe(403);
    expect(await tryUpgrade('/api', { Host: base.Host })).toBe(403);
    expect(await tryUpgrade('/api', { ...base, Host: `evil.example:${host.port}` })).toBe(421);
    expect(await tryUpgrade('/other', base)).toBe(404);
  });

  it('answers no call on a socket that has not authenticated, whatever its request carried', async () => {
    const before = svc.calls.length;
    const variants = [
      {},
      { path: `/api?code=${launchCode()}` },
      { path: `/api?token=${launchCode()}` },
      { headers: { Cookie: `ephemera_${host.port}=${launchCode()}` } },
    ];
    for (const variant of variants) {
      const s = await rawSocket(host, variant);
      s.send(callFrame(1));
      expect(await s.closed).toBe(AUTH_REFUSED_CLOSE);
      expect(s.received).toEqual([]);
    }
    // A malformed or incomplete auth frame is no better.
    for (const frame of [{ t: 'auth' }, { t: 'auth', launchCode: 'short' }, { t: 'auth', launchCode: launchCode(), extra: 1 }, 'not json']) {
      const s = await rawSocket();
      s.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
      expect(await s.closed).toBe(AUTH_REFUSED_CLOSE);
      expect(s.received).toEqual([]);
    }
    expect(svc.calls.length).toBe(before);
  });

  it('trades the launch code, once, for a session secret returned in-band; a wrong code does not spend it', async () => {
    const wrong = await rawSocket();
    expect(await wrong.auth({ launchCode: crypto.randomBytes(32).toString('base64url') })).toEqual({ closed: AUTH_REFUSED_CLOSE });

    const first = await rawSocket();
    const ok = await first.auth({ launchCode: launchCode() });
    expect(ok).toEqual({ t: 'auth-ok', session: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
    sessionSecret = (ok as { session: string }).session;
    expect(sessionSecret).not.toBe(launchCode()); // a new secret, not the code
    first.send(callFrame(7));
    await expect.poll(() => first.received.length).toBe(2);
    expect(first.received[1]).toMatchObject({ t: 'result', id: 7, outcome: { ok: true } });
    first.ws.close();

    // The code is dead, as a code and as a session.
    const again = await rawSocket();
    expect(await again.auth({ launchCode: launchCode() })).toEqual({ closed: AUTH_REFUSED_CLOSE });
    const asSession = await rawSocket();
    expect(await asSession.auth({ session: launchCode() })).toEqual({ closed: AUTH_REFUSED_CLOSE });
    await expect(connectLaunchUrl(host.url)).rejects.toBeInstanceOf(LaunchRefused);

    // The session secret opens further sockets (a reload, a reconnect).
    const resumed = await rawSocket();
    expect(await resumed.auth({ session: session() })).toEqual({ t: 'auth-ok', session: session() });
    resumed.ws.close();
    const tampered = await rawSocket();
    expect(await tampered.auth({ session: `${session().slice(0, -1)}${session().endsWith('A') ? 'B' : 'A'}` })).toEqual({ closed: AUTH_REFUSED_CLOSE });
  });

  it('sends no event to a socket before it authenticates', async () => {
    const observer = createSocketTransport({
      connect: () => new WebSocket(`ws://127.0.0.1:${host.port}/api`, { origin: host.origin }) as unknown as SocketLike,
      auth: { credential: () => ({ session: session() }), onSession: () => undefined },
    });
    const client = createApiClient(observer);
    try {
      await client.vaultStatus();
      const seen: string[] = [];
      client.on('connection', (s) => seen.push(s.phase));
      const waiting = await rawSocket();
      const state = { phase: 'ready', cause: null, relayUrl: null, tempKeyExpiresAt: null, outboxSize: 0, since: 1 };
      svc.emit({ name: 'connection', payload: state });
      await expect.poll(() => seen).toEqual(['ready']);
      // Frames on one socket arrive in order: had the event been sent to `waiting`, it would come
      // before the auth-ok that the socket gets now.
      expect(await waiting.auth({ session: session() })).toEqual({ t: 'auth-ok', session: session() });
      svc.emit({ name: 'connection', payload: { ...state, phase: 'offline' } });
      await expect.poll(() => waiting.received.length).toBe(2);
      expect(waiting.received[1]).toMatchObject({ t: 'event', name: 'connection', payload: { phase: 'offline' } });
      waiting.ws.close();
    } finally {
      observer.close();
    }
  });

  function openClient() {
    const transport = createSocketTransport({
      connect: () => new WebSocket(`ws://127.0.0.1:${host.port}/api`, { origin: host.origin }) as unknown as SocketLike,
      auth: { credential: () => ({ session: session() }), onSession: () => undefined },
      retryDelayMs: 50,
    });
    return { transport, client: createApiClient(transport) };
  }

  it('carries the same API as IPC, validated, with typed errors', async () => {
    const { transport, client } = openClient();
    try {
      await expect(client.vaultStatus()).resolves.toEqual({ vault: 'none', recoveryConfirmed: false, account: null });
      await expect(client.unlock({ password: 'wrong' })).rejects.toMatchObject({ code: 'WRONG_PASSWORD', message: 'The password is wrong.' });
      await expect(client.unlock({ password: 'right' })).resolves.toMatchObject({ vault: 'unlocked' });
      await expect(client.contactAdd({ handle: 'bob' })).rejects.toMatchObject({ code: 'NOT_AVAILABLE' });
      await expect(client.lock()).resolves.toBeUndefined();
      expect(svc.calls).toContain('lock');
    } finally {
      transport.close();
    }
  });

  it('validates frames on the host side: bad params, unknown methods, malformed frames', async () => {
    const s = await rawSocket();
    expect(await s.auth({ session: session() })).toMatchObject({ t: 'auth-ok' });
    const before = svc.calls.length;
    s.send({ t: 'call', id: 1, method: 'unlock', params: { password: 42 } });
    s.send({ t: 'call', id: 2, method: 'constructor', params: {} });
    await expect.poll(() => s.received.length).toBe(3);
    expect(s.received.slice(1)).toEqual([
      { t: 'result', id: 1, outcome: { ok: false, error: expect.objectContaining({ code: 'INVALID_ARGUMENT' }) } },
      { t: 'result', id: 2, outcome: { ok: false, error: expect.objectContaining({ code: 'UNKNOWN_METHOD' }) } },
    ]);
    expect(svc.calls.length).toBe(before);
    s.ws.send('{not json');
    expect(await s.closed).toBe(1008);
  });

  it('broadcasts valid events only', async () => {
    const { transport, client } = openClient();
    try {
      await client.vaultStatus(); // socket is open
      const seen: unknown[] = [];
      client.on('connection', (s) => seen.push(s.phase));
      const state = { phase: 'rebinding', cause: 'relay_forgot_key', relayUrl: null, tempKeyExpiresAt: null, outboxSize: 1, since: 1 };
      svc.emit({ name: 'connection', payload: { ...state, tempKey: 'SECRET' } });
      svc.emit({ name: 'connection', payload: state });
      svc.emit({ name: 'connection', payload: { ...state, phase: 'ready', cause: null } });
      await expect.poll(() => seen.length).toBe(2);
      expect(seen).toEqual(['rebinding', 'ready']);
    } finally {
      transport.close();
    }
  });
});

describe('web host: each launch has its own one-time code and session', () => {
  it('closes a socket that does not authenticate in time', async () => {
    const quick = await startWebHost({ service: recordingService().service, rendererDir: renderer, backupDir: path.join(tmp, 'backups'), authTimeoutMs: 100 });
    try {
      const s = await rawSocket(quick);
      expect(await s.closed).toBe(AUTH_TIMEOUT_CLOSE);
      expect(s.received).toEqual([]);
      // The code was not spent by it.
      const transport = await connectLaunchUrl(quick.url);
      transport.close();
    } finally {
      await quick.close();
    }
  });

  it('refuses a session from another launch, even one that ran on the same port', async () => {
    const earlier = await startWebHost({ service: recordingService().service, rendererDir: renderer, backupDir: path.join(tmp, 'backups') });
    const s = await rawSocket(earlier);
    const earlierSession = ((await s.auth({ launchCode: launchCode(earlier.url) })) as { session: string }).session;
    const port = earlier.port;
    await earlier.close();
    const later = await startWebHost({ service: recordingService().service, rendererDir: renderer, backupDir: path.join(tmp, 'backups'), port });
    try {
      expect(later.url).not.toBe(earlier.url);
      expect(await (await rawSocket(later)).auth({ session: earlierSession })).toEqual({ closed: AUTH_REFUSED_CLOSE });
      // Nor the earlier launch's code.
      expect(await (await rawSocket(later)).auth({ launchCode: launchCode(earlier.url) })).toEqual({ closed: AUTH_REFUSED_CLOSE });
      // Also after the later launch's own code is redeemed.
      const laterSession = ((await (await rawSocket(later)).auth({ launchCode: launchCode(later.url) })) as { session: string }).session;
      expect(laterSession).not.toBe(earlierSession);
      expect(await (await rawSocket(later)).auth({ session: earlierSession })).toEqual({ closed: AUTH_REFUSED_CLOSE });
      // And this suite's own host refuses the later launch's session.
      expect(await (await rawSocket()).auth({ session: laterSession })).toEqual({ closed: AUTH_REFUSED_CLOSE });
    } finally {
      await later.close();
    }
  });

  it('serves the API end to end to a client that redeemed the launch URL', async () => {
    const fresh = await startWebHost({ service: recordingService().service, rendererDir: renderer, backupDir: path.join(tmp, 'backups') });
    try {
      // The code must be in the fragment; the launch client does not send it anywhere else.
      await expect(connectLaunchUrl(`http://127.0.0.1:${fresh.port}/?code=${launchCode(fresh.url)}`)).rejects.toBeInstanceOf(LaunchRefused);
      const transport = await connectLaunchUrl(fresh.url);
      try {
        await expect(createApiClient(transport).vaultStatus()).resolves.toMatchObject({ vault: 'none' });
      } finally {
        transport.close();
      }
      await expect(connectLaunchUrl(fresh.url)).rejects.toBeInstanceOf(LaunchRefused);
    } finally {
      await fresh.close();
    }
  });
});
