// TLS: TLS 1.3 works; TLS 1.2 only with ECDHE suites; a client offering only a non-ECDHE
// suite (or an old protocol) is refused; no session is ever resumed. Uses the real openssl s_client.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningRelay } from '../../relay/relay.ts';
import { inProcessRelay, tempDir } from '../net/harness.ts';

let relay: RunningRelay;
const t = tempDir('tls');
beforeAll(async () => {
  relay = await inProcessRelay(t.dir);
});
afterAll(async () => {
  await relay.close();
  t.cleanup();
});

async function sClient(args: string[], input = ''): Promise<{ ok: boolean; out: string }> {
  // Asynchronous, so the in-process relay can answer while openssl runs.
  return new Promise((resolve) => {
    const p = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${relay.port}`, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.stdin.end(input);
    const timer = setTimeout(() => p.kill('SIGKILL'), 20_000);
    p.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ ok: code === 0, out });
    });
  });
}

describe('relay TLS policy', () => {
  it('openssl is available', () => {
    expect(spawnSync('openssl', ['version']).status).toBe(0);
  });

  it('refuses TLS 1.2 with only a non-ECDHE suite (AES256-SHA)', async () => {
    const r = await sClient(['-tls1_2', '-cipher', 'AES256-SHA']);
    expect(r.ok).toBe(false);
    expect(r.out).toMatch(/handshake failure|no shared cipher|alert/i);
  });

  it('refuses TLS 1.2 with only RSA key exchange suites', async () => {
    const r = await sClient(['-tls1_2', '-cipher', 'AES128-GCM-SHA256:AES256-GCM-SHA384']);
    expect(r.ok).toBe(false);
  });

  it('refuses TLS 1.1', async () => {
    const r = await sClient(['-tls1_1']);
    expect(r.ok).toBe(false);
  });

  it('accepts TLS 1.3', async () => {
    const r = await sClient(['-tls1_3']);
    expect(r.ok).toBe(true);
    expect(r.out).toMatch(/TLSv1\.3/);
  });

  it('accepts TLS 1.2 with an ECDHE suite', async () => {
    const r = await sClient(['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-GCM-SHA256']);
    expect(r.ok).toBe(true);
    expect(r.out).toMatch(/ECDHE-ECDSA-AES128-GCM-SHA256/);
  });

  // Resumption would skip the ECDHE exchange (TLS 1.2) or rest on a ticket key the relay holds
  // in RAM: every connection must be a full handshake. The first connection sends a plain HTTP
  // request and waits (-ign_eof) for the relay's answer and close, so any session ticket (sent
  // after a TLS 1.3 handshake) has arrived and been saved before openssl exits.
  for (const version of ['tls1_2', 'tls1_3'] as const) {
    it(`does not resume a saved ${version} session (fresh ECDHE every time)`, async () => {
      const sess = join(t.dir, `session-${version}.pem`);
      const first = await sClient([`-${version}`, '-ign_eof', '-sess_out', sess], 'GET / HTTP/1.0\r\n\r\n');
      expect(first.out).toMatch(/^New, TLSv1\.[23]/m);
      expect(first.out).toMatch(/426/);
      expect(existsSync(sess)).toBe(true);
      const second = await sClient([`-${version}`, '-ign_eof', '-sess_in', sess], 'GET / HTTP/1.0\r\n\r\n');
      expect(second.out).toMatch(/426/);
      expect(second.out).not.toMatch(/^Reused,/m);
      expect(second.out).toMatch(/^New, TLSv1\.[23]/m);
    });
  }
});
