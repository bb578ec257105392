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
import { startWebHost, type WebHost } from '../../main/web/host.ts';
import { LaunchRefused, redeemLaunchUrl } from '../../main/web/launch-client.ts';

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
/** The launch code is spent by the first test that presents it; this is what it gave. */
let sessionCookie: string | undefined;
const svc = recordingService();

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ephemera-web-'));
  renderer = path.join(tmp, 'renderer');
  fs.mkdirSync(renderer);
  fs.writeFileSync(path.join(renderer, 'index.html'), '<!doctype html><title>Ephemera</title>');
  fs.writeFileSync(path.join(tmp, 'secret.txt'), 'TOP SECRET');
  host = await startWebHost({ service: svc.service, rendererDir: renderer });
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

const launchCode = (url = host.url) => new URL(url).searchParams.get('code')!;
const cookie = () => {
  if (!sessionCookie) throw new Error('the launch code has not been redeemed yet');
  return sessionCookie;
};
const goodHeaders = () => ({ Host: `127.0.0.1:${host.port}`, Origin: host.origin, Cookie: cookie() });

describe('web host: HTTP', () => {
  it('listens on 127.0.0.1 only and prints a URL with a random launch code', () => {
    expect(host.url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${host.port}/\\?code=[A-Za-z0-9_-]{43}$`));
    expect(host.origin).toBe(`http://127.0.0.1:${host.port}`);
  });

  it('refuses requests without a session, and a wrong code without spending the real one', async () => {
    const res = await request('/');
    expect(res.status).toBe(401);
    expect(res.body).not.toContain('<title>');
    expect((await request('/', { Cookie: `ephemera_${host.port}=wrong` })).status).toBe(401);
    expect((await request(`/?token=${launchCode()}`)).status).toBe(401); // the old parameter means nothing
    expect((await request('/?code=wrong')).status).toBe(403);
    // Refused by the Host check before the code is looked at: the code is not spent.
    expect((await request(`/?code=${launchCode()}`, { Host: 'evil.example' })).status).toBe(421);
    expect((await request(`/?code=${launchCode()}`, {}, 'POST')).status).toBe(405);
  });

  it('trades the launch code, once, for a fresh HttpOnly SameSite=Strict session cookie and drops it from the address', async () => {
    const res = await request(`/?code=${launchCode()}`);
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/');
    const setCookie = res.headers['set-cookie']![0]!;
    const [pair, ...attributes] = setCookie.split(';').map((p) => p.trim());
    expect(pair).toMatch(new RegExp(`^ephemera_${host.port}=[A-Za-z0-9_-]{43}$`));
    expect(pair).not.toContain(launchCode()); // the cookie is a new secret, not the code
    expect(attributes.sort()).toEqual(['HttpOnly', 'Path=/', 'SameSite=Strict']); // no Max-Age/Expires: a session cookie
    sessionCookie = pair;

    // The code is dead: a second use is refused and sets no cookie.
    const again = await request(`/?code=${launchCode()}`);
    expect(again.status).toBe(403);
    expect(again.headers['set-cookie']).toBeUndefined();
    expect(again.body).not.toContain('<title>');
    await expect(redeemLaunchUrl(host.url)).rejects.toEqual(new LaunchRefused(403));
    // The browser that holds the session may open the printed address again; it only loses the code.
    const reopened = await request(`/?code=${launchCode()}`, { Cookie: cookie() });
    expect(reopened.status).toBe(303);
    expect(reopened.headers.location).toBe('/');
    expect(reopened.headers['set-cookie']).toBeUndefined();
  });

  it('serves the renderer with the token cookie, with the same strict CSP as Electron', async () => {
    const res = await request('/', { Cookie: cookie() });
    expect(res.status).toBe(200);
    expect(res.body).toContain('<title>Ephemera</title>');
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain(`connect-src ws://127.0.0.1:${host.port}`);
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
  });

  it('refuses a foreign Host header (DNS rebinding) even with the session', async () => {
    expect((await request('/', { Cookie: cookie(), Host: `evil.example:${host.port}` })).status).toBe(421);
    expect((await request('/', { Cookie: cookie(), Host: `127.0.0.1:${host.port + 1}` })).status).toBe(421);
  });

  it('refuses a foreign Origin or a cross-site fetch even with the session', async () => {
    expect((await request('/', { Cookie: cookie(), Origin: 'https://evil.example' })).status).toBe(403);
    expect((await request('/', { Cookie: cookie(), 'Sec-Fetch-Site': 'cross-site' })).status).toBe(403);
    expect((await request('/', { Cookie: cookie(), Origin: host.origin, 'Sec-Fetch-Site': 'same-origin' })).status).toBe(200);
  });

  it('refuses path traversal and non-GET methods', async () => {
    for (const p of ['/../secret.txt', '/%2e%2e/secret.txt', '/..%2fsecret.txt', '/%5c..%5csecret.txt']) {
      const res = await request(p, { Cookie: cookie() });
      expect(res.status, p).toBeGreaterThanOrEqual(400);
      expect(res.body).not.toContain('TOP SECRET');
    }
    expect((await request('/', { Cookie: cookie() }, 'POST')).status).toBe(405);
  });
});

describe('web host: WebSocket', () => {
  it('accepts an upgrade with the session cookie from our origin, and nothing else as a credential', async () => {
    const base = goodHeaders();
    expect(await tryUpgrade('/api', base)).toBe(101);
    expect(await tryUpgrade('/api', { ...base, Host: `localhost:${host.port}`, Origin: `http://localhost:${host.port}` })).toBe(101);
    const noCookie = { Host: base.Host, Origin: base.Origin };
    // The launch code (spent or not) in the socket URL, under the old or the new name, is no credential.
    expect(await tryUpgrade(`/api?token=${launchCode()}`, noCookie)).toBe(401);
    expect(await tryUpgrade(`/api?code=${launchCode()}`, noCookie)).toBe(401);
    expect(await tryUpgrade('/api', { ...noCookie, Cookie: `ephemera_${host.port}=${launchCode()}` })).toBe(401);
    expect(await tryUpgrade('/api', { ...noCookie, Cookie: `${cookie()}x` })).toBe(401);
  });

  it('refuses upgrades without the session, from a foreign origin or host, without origin, or on another path', async () => {
    const base = goodHeaders();
    expect(await tryUpgrade('/api', { Host: base.Host, Origin: base.Origin })).toBe(401);
    expect(await tryUpgrade('/api', { ...base, Origin: 'https://evil.example' })).toBe(403);
    expect(await tryUpgrade('/api', { ...base, Origin: 'null' })).toBe(403);
    expect(await tryUpgrade('/api', { Host: base.Host, Cookie: base.Cookie })).toBe(403);
    expect(await tryUpgrade('/api', { ...base, Host: `evil.example:${host.port}` })).toBe(421);
    expect(await tryUpgrade('/other', base)).toBe(404);
  });

  function openClient() {
    const transport = createSocketTransport({
      connect: () => new WebSocket(`ws://127.0.0.1:${host.port}/api`, { headers: { Cookie: cookie() }, origin: host.origin }) as unknown as SocketLike,
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
    const ws = new WebSocket(`ws://127.0.0.1:${host.port}/api`, { headers: { Cookie: cookie() }, origin: host.origin });
    await new Promise((r) => ws.once('open', r));
    const replies: unknown[] = [];
    ws.on('message', (d) => replies.push(JSON.parse(String(d))));
    const before = svc.calls.length;
    ws.send(JSON.stringify({ t: 'call', id: 1, method: 'unlock', params: { password: 42 } }));
    ws.send(JSON.stringify({ t: 'call', id: 2, method: 'constructor', params: {} }));
    await new Promise((r) => setTimeout(r, 100));
    expect(replies).toEqual([
      { t: 'result', id: 1, outcome: { ok: false, error: expect.objectContaining({ code: 'INVALID_ARGUMENT' }) } },
      { t: 'result', id: 2, outcome: { ok: false, error: expect.objectContaining({ code: 'UNKNOWN_METHOD' }) } },
    ]);
    expect(svc.calls.length).toBe(before);
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    ws.send('{not json');
    expect(await closed).toBe(1008);
  });

  it('broadcasts valid events only', async () => {
    const { transport, client } = openClient();
    try {
      await client.vaultStatus(); // socket is open
      const seen: unknown[] = [];
      client.on('connection', (s) => seen.push(s.phase));
      const state = { phase: 'rebinding', cause: 'relay_forgot_key', relayUrl: null, tempKeyExpiresAt: null, nextAttemptAt: null, outboxSize: 1, since: 1 };
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
  it('refuses the socket before the code is redeemed, even with the code in the socket URL', async () => {
    const fresh = await startWebHost({ service: recordingService().service, rendererDir: renderer });
    try {
      const headers = { Host: `127.0.0.1:${fresh.port}`, Origin: fresh.origin };
      const code = launchCode(fresh.url);
      expect(await tryUpgrade(`/api?token=${code}`, headers, fresh.port)).toBe(401);
      expect(await tryUpgrade(`/api?code=${code}`, headers, fresh.port)).toBe(401);
      expect(await tryUpgrade('/api', { ...headers, Cookie: `ephemera_${fresh.port}=${code}` }, fresh.port)).toBe(401);
      // None of that spent the code: it still works, once.
      const session = await redeemLaunchUrl(fresh.url);
      expect(await tryUpgrade('/api', { ...headers, Cookie: session.cookie }, fresh.port)).toBe(101);
      expect((await request(`/?code=${code}`, {}, 'GET', fresh.port)).status).toBe(403);
    } finally {
      await fresh.close();
    }
  });

  it('refuses a session cookie from another launch, even one that ran on the same port', async () => {
    const earlier = await startWebHost({ service: recordingService().service, rendererDir: renderer });
    const earlierSession = await redeemLaunchUrl(earlier.url);
    const port = earlier.port;
    await earlier.close();
    const later = await startWebHost({ service: recordingService().service, rendererDir: renderer, port });
    try {
      expect(later.url).not.toBe(earlier.url);
      const headers = { Host: `127.0.0.1:${port}`, Origin: later.origin, Cookie: earlierSession.cookie };
      expect(earlierSession.cookie.startsWith(`ephemera_${port}=`)).toBe(true); // same cookie name
      expect((await request('/', headers, 'GET', port)).status).toBe(401);
      expect(await tryUpgrade('/api', headers, port)).toBe(401);
      // Also before and after the later launch's own code is redeemed.
      const laterSession = await redeemLaunchUrl(later.url);
      expect(laterSession.cookie).not.toBe(earlierSession.cookie);
      expect(await tryUpgrade('/api', headers, port)).toBe(401);
      expect(await tryUpgrade('/api', { ...headers, Cookie: laterSession.cookie }, port)).toBe(101);
      // And this suite's own host refuses the later launch's session.
      expect(await tryUpgrade('/api', { ...goodHeaders(), Cookie: laterSession.cookie.replace(`ephemera_${port}=`, `ephemera_${host.port}=`) })).toBe(401);
    } finally {
      await later.close();
    }
  });

  it('serves the API end to end to a client that redeemed the launch URL', async () => {
    const fresh = await startWebHost({ service: recordingService().service, rendererDir: renderer });
    try {
      const session = await redeemLaunchUrl(fresh.url);
      const transport = createSocketTransport({
        connect: () => new WebSocket(session.socketUrl, { headers: { Cookie: session.cookie }, origin: session.origin }) as unknown as SocketLike,
      });
      try {
        await expect(createApiClient(transport).vaultStatus()).resolves.toMatchObject({ vault: 'none' });
      } finally {
        transport.close();
      }
    } finally {
      await fresh.close();
    }
  });
});
