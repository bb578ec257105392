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
let host: WebHost;
const svc = recordingService();

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ephemera-web-'));
  const renderer = path.join(tmp, 'renderer');
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

function request(pathname: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: host.port, path: pathname, method, headers: { Host: `127.0.0.1:${host.port}`, ...headers } }, (res) => {
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
function tryUpgrade(pathname: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port: host.port,
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

const cookie = () => `ephemera_${host.port}=${host.token}`;
const goodHeaders = () => ({ Host: `127.0.0.1:${host.port}`, Origin: host.origin, Cookie: cookie() });

describe('web host: HTTP', () => {
  it('listens on 127.0.0.1 only and prints a URL with a random token', () => {
    expect(host.url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${host.port}/\\?token=[A-Za-z0-9_-]{43}$`));
    expect(host.origin).toBe(`http://127.0.0.1:${host.port}`);
  });

  it('refuses requests without the token', async () => {
    const res = await request('/');
    expect(res.status).toBe(401);
    expect(res.body).not.toContain('<title>');
    expect((await request('/', { Cookie: `ephemera_${host.port}=wrong` })).status).toBe(401);
    expect((await request('/?token=wrong')).status).toBe(401);
  });

  it('trades the token in the URL for an HttpOnly SameSite=Strict cookie and drops it from the address', async () => {
    const res = await request(`/?token=${host.token}`);
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/');
    const setCookie = res.headers['set-cookie']![0]!;
    expect(setCookie).toContain(`ephemera_${host.port}=${host.token}`);
    expect(setCookie).toContain('HttpOnly');
    expect(setCookie).toContain('SameSite=Strict');
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

  it('refuses a foreign Host header (DNS rebinding) even with the token', async () => {
    expect((await request('/', { Cookie: cookie(), Host: `evil.example:${host.port}` })).status).toBe(421);
    expect((await request(`/?token=${host.token}`, { Host: 'evil.example' })).status).toBe(421);
    expect((await request('/', { Cookie: cookie(), Host: `127.0.0.1:${host.port + 1}` })).status).toBe(421);
  });

  it('refuses a foreign Origin or a cross-site fetch even with the token', async () => {
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
  it('accepts an upgrade with the cookie or the token in the socket URL, from our origin', async () => {
    expect(await tryUpgrade('/api', goodHeaders())).toBe(101);
    expect(await tryUpgrade(`/api?token=${host.token}`, { Host: `127.0.0.1:${host.port}`, Origin: host.origin })).toBe(101);
  });

  it('refuses upgrades without the token, from a foreign origin or host, without origin, or on another path', async () => {
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
