// A raw protocol client built straight from shared/protocol, for crafting good and bad frames.
import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import { signBind, permKeyIdOf, type BindFields } from '../../shared/protocol/bind.ts';
import { decodeFrame, type Frame } from '../../shared/protocol/frames.ts';
import { ClientHandshake, type TempKeyMaterial } from '../../shared/protocol/handshake.ts';
import { ed25519PrivateKey, rawPublicKey } from '../../shared/protocol/keys.ts';
import { RecordEndpoint, type SealOverrides } from '../../shared/protocol/record.ts';
import { decodeBodies, encodeBody, type Body } from '../../shared/protocol/rpc.ts';
import type { Value } from '../../shared/protocol/value.ts';
import { afterAll, beforeAll, vi } from 'vitest';
import type { RelayOptions, RunningRelay } from '../../relay/relay.ts';
import { inProcessRelay, tempDir } from '../net/harness.ts';

export interface RawKey {
  material: TempKeyMaterial;
  endpoint: RecordEndpoint;
  relayTime: number;
  maxTtlSec: number;
}

export class RawSession {
  readonly frames: Buffer[] = [];
  closed: { code: number; reason: string } | undefined;
  private waiters: (() => void)[] = [];
  private nextReq = 1;

  private constructor(readonly ws: WebSocket, readonly relay: RunningRelay) {
    ws.on('message', (d: Buffer) => {
      this.frames.push(Buffer.from(d));
      this.wake();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
    ws.on('error', () => undefined);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** `localAddress` picks the source address (127.0.0.2 etc. reach a relay on 127.0.0.1 on Linux). */
  static async connect(relay: RunningRelay, o: { localAddress?: string } = {}): Promise<RawSession> {
    const ws = new WebSocket(relay.url, { rejectUnauthorized: false, perMessageDeflate: false, ...o });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new RawSession(ws, relay);
  }

  send(frame: Uint8Array): void {
    this.ws.send(frame);
  }

  /** Next frame, or undefined when the connection closed first. */
  async next(ms = 10_000): Promise<Buffer | undefined> {
    const end = Date.now() + ms;
    while (this.frames.length === 0 && !this.closed) {
      if (Date.now() > end) throw new Error('no frame in time');
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
    return this.frames.shift();
  }

  waitClosed(ms = 10_000): Promise<{ code: number; reason: string }> {
    return vi.waitFor(() => {
      if (!this.closed) throw new Error('connection not closed in time');
      return this.closed;
    }, { timeout: ms, interval: 10 });
  }

  async handshake(): Promise<RawKey> {
    const hs = new ClientHandshake();
    this.send(hs.helloFrame);
    const f = await this.next();
    if (!f) throw new Error('closed during handshake');
    const reply = decodeFrame(f);
    if (reply.type !== 'helloReply') throw new Error(`expected hello reply, got ${reply.type}`);
    const material = hs.finish(reply, Buffer.from(this.relay.descriptor.relayPublicKey, 'hex'));
    const offset = material.relayTime - Date.now();
    const endpoint = new RecordEndpoint(material, 'client', () => Date.now() + offset, randomBytes(8));
    return { material, endpoint, relayTime: material.relayTime, maxTtlSec: material.maxTtlSec };
  }

  request(key: RawKey, method: string, params: Value, o: SealOverrides = {}): { reqId: number; frame: Buffer } {
    const reqId = this.nextReq++;
    const frame = key.endpoint.seal(encodeBody({ kind: 'request', reqId, method, params }), o);
    this.send(frame);
    return { reqId, frame };
  }

  /** Next frame decoded: a body from `key`, or another frame kind. */
  async nextOn(key: RawKey): Promise<{ frame: Frame; body?: Body; raw: Buffer } | undefined> {
    // A BATCH record yields its bodies one call at a time.
    const queued = this.bodyQueue.shift();
    if (queued) return queued;
    const raw = await this.next();
    if (!raw) return undefined;
    const frame = decodeFrame(raw);
    if (frame.type !== 'record') return { frame, raw };
    const p = key.endpoint.open(frame);
    if (!p) throw new Error('relay record did not open');
    const [first, ...rest] = decodeBodies(p.body);
    for (const body of rest) this.bodyQueue.push({ frame, body, raw });
    return { frame, body: first, raw };
  }

  private readonly bodyQueue: { frame: Frame; body: Body; raw: Buffer }[] = [];

  async call(key: RawKey, method: string, params: Value): Promise<Body> {
    const { reqId } = this.request(key, method, params);
    for (;;) {
      const r = await this.nextOn(key);
      if (!r) throw new Error(`closed while waiting for ${method}`);
      if (r.body && (r.body.kind === 'result' || r.body.kind === 'error') && r.body.reqId === reqId) return r.body;
    }
  }

  close(): void {
    this.ws.terminate();
  }
}

export class TestDevice {
  readonly seed = randomBytes(32);
  readonly privateKey = ed25519PrivateKey(Buffer.from(this.seed));
  readonly permPub = rawPublicKey(this.privateKey);
  readonly permKeyId = permKeyIdOf(this.permPub);

  bindFields(key: RawKey, o: Partial<BindFields> = {}): BindFields {
    const sessionId = key.endpoint.sessionId;
    if (!sessionId) throw new Error('no session');
    return {
      permKeyId: this.permKeyId,
      permPub: this.permPub,
      tempKeyId: key.material.id,
      transcriptHash: key.material.transcriptHash,
      sessionId,
      nonce: randomBytes(16),
      expiresAt: key.relayTime + 3600_000,
      ...o,
    };
  }

  bindParams(fields: BindFields, signer = this.privateKey): { message: Buffer; signature: Buffer } {
    return signBind(fields, signer);
  }
}

export async function boundKey(s: RawSession, dev: TestDevice, o: Partial<BindFields> = {}): Promise<RawKey> {
  const key = await s.handshake();
  const r = await s.call(key, 'bind', dev.bindParams(dev.bindFields(key, o)));
  if (r.kind !== 'result') throw new Error(`bind failed: ${r.kind === 'error' ? r.code : r.kind}`);
  return key;
}

/**
 * One in-process relay for a test file, started in beforeAll, and the raw sessions its tests
 * open; afterAll closes every session, the relay, and removes its data directory.
 */
export function relayForFile(name: string, options: Partial<RelayOptions> = {}): { readonly dir: string; session(): Promise<RawSession> } {
  const t = tempDir(name);
  const sessions: RawSession[] = [];
  let relay: RunningRelay | undefined;
  beforeAll(async () => {
    relay = await inProcessRelay(t.dir, options);
  });
  afterAll(async () => {
    for (const s of sessions) s.close();
    await relay?.close();
    t.cleanup();
  });
  return {
    dir: t.dir,
    async session() {
      if (!relay) throw new Error('the relay starts in beforeAll');
      const s = await RawSession.connect(relay);
      sessions.push(s);
      return s;
    },
  };
}

/** A new device on a new connection of `relay`, bound and registered as `handle`. */
export async function registeredOn(relay: { session(): Promise<RawSession> }, handle: string): Promise<{ s: RawSession; key: RawKey; dev: TestDevice }> {
  const dev = new TestDevice();
  const s = await relay.session();
  const key = await boundKey(s, dev);
  const r = await s.call(key, 'register', { handle });
  if (r.kind !== 'result') throw new Error('register failed');
  return { s, key, dev };
}

/** Binds `dev` on a new connection and returns the envelopes (sender, body as text) pushed before a ping's answer. */
export async function pushedEnvelopes(relay: { session(): Promise<RawSession> }, dev: TestDevice): Promise<{ from: string; body: string }[]> {
  const s = await relay.session();
  const key = await boundKey(s, dev);
  const { reqId } = s.request(key, 'ping', {});
  const got: { from: string; body: string }[] = [];
  for (;;) {
    const r = await s.nextOn(key);
    if (!r?.body) throw new Error('closed before the ping answer');
    const b = r.body;
    if (b.kind === 'push' && b.topic === 'envelope') {
      const d = b.data as { from: string; body: Uint8Array };
      got.push({ from: d.from, body: Buffer.from(d.body).toString() });
    }
    if (b.kind === 'result' && b.reqId === reqId) break;
  }
  s.close();
  return got;
}
