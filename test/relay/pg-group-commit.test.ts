// Group commit on PostgreSQL (relay/pg-group-commit.ts): the sends that arrive together go in
// one transaction with one notification per node naming every woken recipient (not one per
// message); idempotency holds inside a batch (the same key twice: one row, the second a
// duplicate) and across batches; the queue limit is exact inside a batch; acks that arrive
// together each learn how many of their own ids went, and the queued counts follow.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { PgGroupCommit } from '../../relay/pg-group-commit.ts';
import { nodeChannel, PgStoreBackend } from '../../relay/store-pg.ts';
import { RpcError } from '../../shared/protocol/errors.ts';
import { startPostgres, type TestPostgres } from './pg-harness.ts';
import { waitFor } from '../net/harness.ts';

let server: TestPostgres;
beforeAll(async () => {
  server = await startPostgres();
});
afterAll(async () => {
  await server?.stop();
});

describe('PostgreSQL group commit', () => {
  it('sends that arrive together: one transaction, one notification per node listing every recipient; idempotent within and across batches', async () => {
    const url = await server.createDatabase();
    const store = await PgStoreBackend.open({ url, maxConnections: 4 });
    const raw = new pg.Client({ connectionString: url });
    await raw.connect();
    try {
      const group = new PgGroupCommit(store.pool, (h) => store.deviceByHandle(h), (h) => store.byHandle.get(h));
      const sender = randomBytes(8);
      await store.insertDevice(sender, randomBytes(32), 1);
      await store.register(sender, 'sender');
      const recipients = Array.from({ length: 60 }, () => randomBytes(8));
      for (const [i, r] of recipients.entries()) {
        await store.insertDevice(r, randomBytes(32), 1);
        await store.register(r, `r${i}`);
        // Half the recipients are held by node x, half by node y.
        await store.bind(r, i % 2 ? 'node_x' : 'node_y', randomBytes(16), 1);
      }
      // Handles read once are cached, so the sends below all join the batch in this one turn.
      for (let i = 0; i < recipients.length; i++) await store.deviceByHandle(`r${i}`);
      const notes: { channel: string; payload: string }[] = [];
      raw.on('notification', (m) => notes.push({ channel: m.channel, payload: m.payload ?? '' }));
      await raw.query(`LISTEN ${nodeChannel('node_x')}`);
      await raw.query(`LISTEN ${nodeChannel('node_y')}`);
      const xid0 = (await raw.query<{ x: string }>('SELECT pg_current_xact_id()::text AS x')).rows[0]!.x;

      // 60 sends and a repeat of the first key, issued in one turn: one batch.
      const sends = recipients.map((_, i) => group.enqueue(sender, 'sender', `r${i}`, `k${i}`, Buffer.from([i]), 5, 100, 1e15));
      const again = group.enqueue(sender, 'sender', 'r0', 'k0', Buffer.from([0]), 5, 100, 1e15);
      const results = await Promise.all(sends);
      const repeat = await again;
      expect(results.every((r) => !r.duplicate)).toBe(true);
      expect(new Set(results.map((r) => r.id)).size).toBe(60);
      expect(repeat).toEqual({ ...results[0], duplicate: true });
      // One transaction (one xid) did all the writes: the next xid is just past it.
      const xid1 = (await raw.query<{ x: string }>('SELECT pg_current_xact_id()::text AS x')).rows[0]!.x;
      expect(Number(xid1) - Number(xid0)).toBe(2);
      await waitFor(() => notes.length >= 2);
      await new Promise((r) => setTimeout(r, 100));
      expect(notes.map((n) => n.channel).sort()).toEqual([nodeChannel('node_x'), nodeChannel('node_y')]);
      const named = notes.flatMap((n) => n.payload.slice(2).split(',')).sort();
      expect(named).toEqual(recipients.map((r) => r.toString('hex')).sort());

      // Across batches: a re-send is a duplicate with the stored id, nothing queued twice.
      expect(await group.enqueue(sender, 'sender', 'r5', 'k5', Buffer.from([5]), 6, 100, 1e15)).toEqual({ ...results[5], duplicate: true });
      expect((await store.pending(recipients[5]!, 0, 10)).map((e) => e.id)).toEqual([results[5]!.id]);
      await expect(group.enqueue(sender, 'sender', 'nobody', 'k', Buffer.from([1]), 6, 100, 1e15)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await group.drain();
    } finally {
      await raw.end();
      await store.close();
    }
  });

  it("a sender's sends enter the batch in call order, also when an earlier one's recipient handle is not cached yet and a later one's is", async () => {
    const url = await server.createDatabase();
    const store = await PgStoreBackend.open({ url, maxConnections: 4 });
    try {
      const group = new PgGroupCommit(store.pool, (h) => store.deviceByHandle(h), (h) => store.byHandle.get(h));
      const [s, cold, warm] = [randomBytes(8), randomBytes(8), randomBytes(8)];
      for (const [d, h] of [[s, 's'], [cold, 'cold'], [warm, 'warm']] as const) {
        await store.insertDevice(d, randomBytes(32), 1);
        await store.register(d, h);
      }
      await store.deviceByHandle('warm');
      const first = group.enqueue(s, 's', 'cold', 'o1', Buffer.from([1]), 1, 100, 1e15);
      const second = group.enqueue(s, 's', 'warm', 'o2', Buffer.from([2]), 1, 100, 1e15);
      const [a, b] = await Promise.all([first, second]);
      // Queue ids follow commit order: the first send was stored first.
      expect(a.id).toBeLessThan(b.id);
    } finally {
      await store.close();
    }
  });

  it('the queue limit is exact inside one batch; acks that arrive together each count their own ids', async () => {
    const url = await server.createDatabase();
    const store = await PgStoreBackend.open({ url, maxConnections: 4 });
    try {
      const group = new PgGroupCommit(store.pool, (h) => store.deviceByHandle(h), (h) => store.byHandle.get(h));
      const [s, r1, r2] = [randomBytes(8), randomBytes(8), randomBytes(8)];
      for (const [d, h] of [[s, 's'], [r1, 'r1'], [r2, 'r2']] as const) {
        await store.insertDevice(d, randomBytes(32), 1);
        await store.register(d, h);
      }
      for (const h of ['r1', 'r2']) await store.deviceByHandle(h);
      const settled = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => group.enqueue(s, 's', 'r1', `q${i}`, Buffer.from([i]), 1, 5, 1e15)));
      expect(settled.filter((x) => x.status === 'fulfilled')).toHaveLength(5);
      for (const x of settled.slice(5)) {
        expect(x.status).toBe('rejected');
        expect((x as PromiseRejectedResult).reason).toBeInstanceOf(RpcError);
        expect((x as PromiseRejectedResult).reason).toMatchObject({ code: 'QUEUE_FULL' });
      }
      const ids1 = (await store.pending(r1, 0, 10)).map((e) => e.id);
      const ids2 = await Promise.all([0, 1, 2].map((i) => group.enqueue(s, 's', 'r2', `p${i}`, Buffer.from([i]), 1, 5, 1e15).then((x) => x.id)));
      // Two acks of r1 (overlapping) and one of r2 with an id that is not r2's, together.
      const [a, b, c] = await Promise.all([
        group.ack(r1, ids1.slice(0, 3)),
        group.ack(r1, ids1.slice(2)),
        group.ack(r2, [...ids2.slice(0, 2), ids1[0]!]),
      ]);
      expect([a, b, c]).toEqual([3, 2, 2]);
      expect(await store.pending(r1, 0, 10)).toEqual([]);
      expect((await store.pending(r2, 0, 10)).map((e) => e.id)).toEqual([ids2[2]]);
      // The queued counts followed: r1 has room for five again.
      const more = await Promise.all(Array.from({ length: 5 }, (_, i) => group.enqueue(s, 's', 'r1', `m${i}`, Buffer.from([i]), 1, 5, 1e15)));
      expect(more).toHaveLength(5);
    } finally {
      await store.close();
    }
  });
});
