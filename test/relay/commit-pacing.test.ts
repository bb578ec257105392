// The relay's group commit pacing (relay/outgoing.ts): answers never leave before their batch is
// committed; under load a batch that wrote waits for the commit interval, but a batch of reads
// only, or one that took COMMIT_AT_BYTES of records (attachment chunks), is committed and
// released at the end of its turn. Real SQLite store, real WebSocket pair on 127.0.0.1.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Conn, TempKeyEntry } from '../../relay/context.ts';
import { COMMIT_AT_BYTES, Outgoing } from '../../relay/outgoing.ts';
import { RelayStore } from '../../relay/store.ts';
import { decodeFrame, type RecordFrame } from '../../shared/protocol/frames.ts';
import { RecordEndpoint } from '../../shared/protocol/record.ts';
import { decodeBodies } from '../../shared/protocol/rpc.ts';
import { isValueMap } from '../../shared/protocol/value.ts';
import { tempDir } from '../net/harness.ts';
import { loopbackSocketPair } from './loopback-pair.ts';

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A relay-side connection (the server end of a real WebSocket), the client end's received frames, and one temp key. */
async function setup(intervalMs: number): Promise<{ out: Outgoing; store: RelayStore; entry: TempKeyEntry; received: Buffer[]; client: RecordEndpoint }> {
  const t = tempDir('commit-pacing');
  closers.push(() => t.cleanup());
  const store = new RelayStore(join(t.dir, 'relay.db'));
  closers.push(() => store.close());
  const { ws, serverSide } = await loopbackSocketPair(closers);
  const received: Buffer[] = [];
  ws.on('message', (d: Buffer) => received.push(d));
  await new Promise<void>((r) => ws.once('open', () => r()));
  const conn: Conn = { ws: await serverSide, socket: undefined, address: '127.0.0.1', tracked: undefined, keys: new Set(), unbound: [] };
  const material = { id: randomBytes(8), c2s: randomBytes(32), s2c: randomBytes(32), transcriptHash: randomBytes(32) };
  const session = randomBytes(8);
  const entry: TempKeyEntry = { idHex: material.id.toString('hex'), endpoint: new RecordEndpoint(material, 'relay', Date.now, session), transcriptHash: material.transcriptHash, expiresAt: Date.now() + 60_000, conn };
  const client = new RecordEndpoint({ ...material, c2s: Buffer.from(material.c2s), s2c: Buffer.from(material.s2c) }, 'client', Date.now, session);
  return { out: new Outgoing(store, () => undefined, intervalMs), store, entry, received, client };
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 10_000 && !cond(); i++) await new Promise((r) => setTimeout(r, 1));
  expect(cond()).toBe(true);
}

describe('group commit pacing', () => {
  it('holds a writing batch for the interval under load, releases it at the commit', async () => {
    // An interval no test run reaches: a held batch stays held until committed by hand.
    const { out, entry, received } = await setup(3_600_000);
    out.openBatch();
    out.mayWrite();
    out.sendBody(entry, { kind: 'result', reqId: 1, result: null });
    await turn();
    await turn();
    // Idle before it (no earlier commit): committed at the end of its turn.
    expect(out.holding).toBe(0);
    out.openBatch();
    out.mayWrite();
    out.sendBody(entry, { kind: 'result', reqId: 2, result: null });
    for (let i = 0; i < 5; i++) await turn();
    expect(out.holding).toBe(1);
    out.commitBatch();
    expect(out.holding).toBe(0);
    await until(() => received.length === 2);
  });

  it('releases a batch of reads only at the end of its turn, even right after a commit', async () => {
    const { out, entry, received, client } = await setup(3_600_000);
    out.openBatch();
    out.mayWrite();
    out.sendBody(entry, { kind: 'result', reqId: 1, result: null });
    out.commitBatch();
    out.openBatch();
    const chunk = randomBytes(64 * 1024 + 16);
    out.sendBody(entry, { kind: 'result', reqId: 2, result: { data: chunk } });
    await turn();
    await turn();
    expect(out.holding).toBe(0);
    await until(() => received.length === 2);
    // The chunk, sealed from where it was (not copied into a body first), reads back the same.
    const payload = client.open(decodeFrame(received[1] as Buffer) as RecordFrame);
    expect(payload).not.toBeNull();
    const [body] = decodeBodies(payload!.body);
    if (body?.kind !== 'result' || !isValueMap(body.result) || !(body.result.data instanceof Uint8Array)) throw new Error('not the result sent');
    expect(body.reqId).toBe(2);
    expect(Buffer.from(body.result.data).equals(chunk)).toBe(true);
  });

  it('commits a writing batch at the end of its turn once it took COMMIT_AT_BYTES of records', async () => {
    const { out, store, entry, received } = await setup(3_600_000);
    out.openBatch();
    out.mayWrite();
    out.commitBatch();
    out.openBatch();
    out.mayWrite();
    out.took(COMMIT_AT_BYTES - 1);
    out.sendBody(entry, { kind: 'result', reqId: 1, result: { length: 1 } });
    for (let i = 0; i < 5; i++) await turn();
    expect(out.holding).toBe(1);
    // More records join the waiting batch: past the mark it is committed without the interval.
    out.took(1);
    await turn();
    await turn();
    expect(out.holding).toBe(0);
    expect(store.database.inTransaction).toBe(false);
    await until(() => received.length === 1);
  });
});
