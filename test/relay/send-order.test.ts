// Per-sender order across a retry (relay/send-order.ts), on SQLite and on a cluster node
// (PostgreSQL, pg-harness.ts). A client keeps sends in flight behind one the relay refused
// retryably (a full queue; the store away during a PostgreSQL restart) and re-sends that one
// later: the sends behind it must not be stored first. Here the client's moves are played by a
// raw session, one at a time, so each interleaving is exact. Also: a cluster node stores a
// sendMany's items in one transaction (one xmin on every row).
import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import type { RelayOptions, RunningRelay } from '../../relay/relay.ts';
import { inProcessRelay, tempDir } from '../net/harness.ts';
import { startPostgres, type TestPostgres } from './pg-harness.ts';
import { boundKey, RawSession, registeredOn } from './raw-session.ts';

let pgServer: TestPostgres | undefined;
const relays: RunningRelay[] = [];
const sessions: RawSession[] = [];
const dirs: { cleanup: () => void }[] = [];
afterAll(async () => {
  for (const s of sessions) s.close();
  for (const r of relays) await r.close();
  for (const d of dirs) d.cleanup();
  await pgServer?.stop();
});

type Relay = { relay: RunningRelay; url?: string; session(): Promise<RawSession> };

async function relayOn(backend: 'SQLite' | 'PostgreSQL', o: Partial<RelayOptions> = {}): Promise<Relay> {
  const d = tempDir('send-order');
  dirs.push(d);
  let url: string | undefined;
  if (backend === 'PostgreSQL') {
    pgServer ??= await startPostgres();
    url = await pgServer.createDatabase();
  }
  const relay = await inProcessRelay(d.dir, { ...o, ...(url ? { database: url } : {}) });
  relays.push(relay);
  return {
    relay,
    ...(url ? { url } : {}),
    async session() {
      const s = await RawSession.connect(relay);
      sessions.push(s);
      return s;
    },
  };
}

/**
 * The first `n` envelopes pushed to `dev` on a new key, as text. (A cluster node pushes after
 * its queue read, which may come after a ping's answer: so counted, not fenced by a ping.)
 */
async function firstPushed(r: Relay, dev: Parameters<typeof boundKey>[1], n: number): Promise<string[]> {
  const s = await r.session();
  const key = await boundKey(s, dev);
  const got: string[] = [];
  while (got.length < n) {
    const f = await s.nextOn(key);
    if (!f) throw new Error('closed before the pushes');
    if (f.body?.kind === 'push' && f.body.topic === 'envelope') got.push(Buffer.from((f.body.data as { body: Uint8Array }).body).toString());
  }
  s.close();
  return got;
}

type Body = Awaited<ReturnType<RawSession['call']>>;
const outcome = (b: Body): unknown => (b.kind === 'result' ? b.result : b.kind === 'error' ? { error: b.code } : b.kind);
const send = async (u: Awaited<ReturnType<typeof registeredOn>>, to: string, idem: string): Promise<unknown> =>
  outcome(await u.s.call(u.key, 'send', { to, idem, body: Buffer.from(idem) }));

describe.each(['SQLite', 'PostgreSQL'] as const)('per-sender order across a retry (%s)', (backend) => {
  it('a send behind one refused for a full queue waits for that one\'s retry, even once the queue has room', async () => {
    const r = await relayOn(backend, { queueLimit: 1 });
    const alice = await registeredOn(r, 'so_alice');
    const bob = await registeredOn(r, 'so_bob');
    bob.s.close();
    expect(await send(alice, 'so_bob', 'so-msg-0')).toMatchObject({ duplicate: false });
    expect(await send(alice, 'so_bob', 'so-msg-1')).toEqual({ error: 'QUEUE_FULL' });
    // Bob reads and acknowledges msg-0: the queue has room again.
    const b2 = await r.session();
    const bkey = await boundKey(b2, bob.dev);
    let pushedId: number | undefined;
    while (pushedId === undefined) {
      const f = await b2.nextOn(bkey);
      if (f?.body?.kind === 'push' && f.body.topic === 'envelope') pushedId = (f.body.data as { id: number }).id;
    }
    expect(outcome(await b2.call(bkey, 'ack', { ids: [pushedId] }))).toEqual({ removed: 1 });
    b2.close();
    // msg-2 was in flight behind msg-1 (the client had not seen msg-1's refusal yet): refused,
    // with a retryable code, although the queue has room. Before the fence it was stored here,
    // ahead of msg-1's retry.
    expect(await send(alice, 'so_bob', 'so-msg-2')).toEqual({ error: 'QUEUE_FULL' });
    // A re-send of a stored envelope is still answered (a duplicate keeps no order).
    expect(await send(alice, 'so_bob', 'so-msg-0')).toMatchObject({ duplicate: true });
    // The retry of msg-1 lifts the fence; then msg-2 goes (the limit is 1: bob reads in between).
    expect(await send(alice, 'so_bob', 'so-msg-1')).toMatchObject({ duplicate: false });
    expect(await firstPushed(r, bob.dev, 1)).toEqual(['so-msg-1']);
  });

  it('a full queue holds back only the sends to that recipient: one who keeps its queue full cannot stall the rest', async () => {
    const r = await relayOn(backend, { queueLimit: 1 });
    const alice = await registeredOn(r, 'sq_alice');
    const mallory = await registeredOn(r, 'sq_mallory');
    await registeredOn(r, 'sq_carol');
    mallory.s.close();
    expect(await send(alice, 'sq_mallory', 'sq-msg-0')).toMatchObject({ duplicate: false });
    expect(await send(alice, 'sq_mallory', 'sq-msg-1')).toEqual({ error: 'QUEUE_FULL' });
    // Before the scope, this send (and every other of alice's) was refused until msg-1's retry.
    expect(await send(alice, 'sq_carol', 'sq-msg-2')).toMatchObject({ duplicate: false });
    // To mallory, later sends are still refused (the order of one recipient's sends: the test above).
    expect(await send(alice, 'sq_mallory', 'sq-msg-3')).toEqual({ error: 'QUEUE_FULL' });
  });
});

describe('per-sender order across a PostgreSQL restart (cluster node)', () => {
  it('a send behind one that failed while PostgreSQL was down is refused until that one is retried', async () => {
    const r = await relayOn('PostgreSQL');
    const alice = await registeredOn(r, 'pr_alice');
    const bob = await registeredOn(r, 'pr_bob');
    bob.s.close();
    expect(await send(alice, 'pr_bob', 'pr-msg-0')).toMatchObject({ duplicate: false });
    await pgServer!.down();
    expect(await send(alice, 'pr_bob', 'pr-msg-1')).toEqual({ error: 'INTERNAL' });
    pgServer!.up();
    // PostgreSQL is back; msg-2 was sent before the client saw msg-1 fail. Before the fence it
    // was stored now, and msg-1's retry after it: bob read 0, 2, 1.
    expect(await send(alice, 'pr_bob', 'pr-msg-2')).toEqual({ error: 'INTERNAL' });
    // A sendMany behind it is held back whole, too.
    expect(outcome(await alice.s.call(alice.key, 'sendMany', { bodies: [Buffer.from('pr-many')], items: [{ to: 'pr_bob', idem: 'pr-many-0', b: 0 }] }))).toEqual({ error: 'INTERNAL' });
    expect(await send(alice, 'pr_bob', 'pr-msg-1')).toMatchObject({ duplicate: false });
    expect(await send(alice, 'pr_bob', 'pr-msg-2')).toMatchObject({ duplicate: false });
    expect(outcome(await alice.s.call(alice.key, 'sendMany', { bodies: [Buffer.from('pr-many')], items: [{ to: 'pr_bob', idem: 'pr-many-0', b: 0 }] }))).toMatchObject({ results: [{ duplicate: false }] });
    expect(await firstPushed(r, bob.dev, 4)).toEqual(['pr-msg-0', 'pr-msg-1', 'pr-msg-2', 'pr-many']);
  });

  it('a sendMany\'s items are stored in one transaction', async () => {
    const r = await relayOn('PostgreSQL');
    const alice = await registeredOn(r, 'gm_alice');
    const handles = ['gm_bob', 'gm_carol', 'gm_dave', 'gm_erin'];
    for (const h of handles) (await registeredOn(r, h)).s.close();
    const items = handles.map((to, i) => ({ to, idem: `gm-item-${i}-xx`, b: 0 }));
    const res = outcome(await alice.s.call(alice.key, 'sendMany', { bodies: [Buffer.from('to the group')], items })) as { results: { id: number }[] };
    const ids = res.results.map((x) => x.id);
    expect(ids).toHaveLength(4);
    const c = new pg.Client({ connectionString: r.url });
    await c.connect();
    try {
      // Rows written by one transaction carry its id as xmin; items committed one by one have four.
      const x = await c.query<{ n: string }>('SELECT count(DISTINCT xmin::text) AS n FROM queue WHERE id = ANY($1::bigint[])', [ids.map(String)]);
      expect(Number(x.rows[0]?.n)).toBe(1);
    } finally {
      await c.end();
    }
  });
});
