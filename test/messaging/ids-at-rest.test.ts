// E2E content ids are chosen by the sender. They must not reach the recipient's disk in a
// plaintext column, and the relay's idempotency keys must not equal anything stored on the
// sender's disk (a seized relay and a seized laptop should not line up). Read receipts, which
// need the content ids, still work (they are kept sealed). Neither side's disk tells message
// kinds or directions apart: every idempotency key the relay keeps has one shape whether it
// carried a text or a receipt, and every stored message id has one shape whatever its direction.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it, vi } from 'vitest';
import { DB_FILE } from '../../main/vault/index.ts';
import { filesContaining, fullHistory, messagingScene, peersOn, waitFor } from './helpers.ts';

// Observes (does not replace) the content ids the messenger makes: they exist only inside E2E
// content and sealed rows, so the test has no other way to know what to scan the disks for.
const made = vi.hoisted(() => [] as string[]);
vi.mock('../../main/messenger/ids.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../main/messenger/ids.ts')>();
  return {
    ...real,
    newContentId: (): string => {
      const id = real.newContentId();
      made.push(id);
      return id;
    },
  };
});

/** Every text value of every table of an SQLite file (the plaintext a seized disk shows). */
function plaintextCells(file: string): { table: string; column: string; value: string }[] {
  const db = new Database(file, { readonly: true });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[];
    const out: { table: string; column: string; value: string }[] = [];
    for (const { name } of tables) {
      for (const row of db.prepare(`SELECT * FROM "${name}"`).all() as Record<string, unknown>[]) {
        for (const [column, value] of Object.entries(row)) if (typeof value === 'string') out.push({ table: name, column, value });
      }
    }
    return out;
  } finally {
    db.close();
  }
}

const scene = messagingScene('ids', ['alice', 'bob']);
const { dirs, peers } = scene;

describe('message ids at rest', () => {
  it('no content id in the recipient profile or the relay; receipts still arrive', async () => {
    const { alice, bob } = await peersOn(scene, ['alice', 'bob']);
    const toBob = await alice.m.contactAdd({ handle: 'bob' });
    for (let i = 0; i < 5; i++) await alice.m.sendText({ conversationId: toBob.conversationId, text: `hello ${i}` });
    await waitFor(async () => {
      const c = await bob.m.contactsList();
      return c.length === 1 && (await fullHistory(bob.m, c[0]!.conversationId)).length === 5;
    }, 60_000, 'bob receives 5');
    const bobConv = (await bob.m.contactsList())[0]!.conversationId;
    const received = await fullHistory(bob.m, bobConv);
    await bob.m.markRead({ conversationId: bobConv, upToMessageId: received.at(-1)!.id });
    await waitFor(async () => (await fullHistory(alice.m, toBob.conversationId)).every((m) => m.state === 'read'), 60_000, 'read receipts');
    // A reply, so each vault holds messages of both directions.
    await bob.m.sendText({ conversationId: bobConv, text: 'hi alice' });
    await waitFor(async () => (await fullHistory(alice.m, toBob.conversationId)).length === 6, 60_000, 'alice receives the reply');

    const contentIds = [...made];
    expect(contentIds).toHaveLength(6); // Alice's 5 and Bob's reply
    expect(contentIds.every((c) => /^[0-9a-f]{32}$/.test(c))).toBe(true);
    const storedIds = {
      alice: (await fullHistory(alice.m, toBob.conversationId)).map((m) => ({ id: m.id, direction: m.direction })),
      bob: (await fullHistory(bob.m, bobConv)).map((m) => ({ id: m.id, direction: m.direction })),
    };
    for (const p of peers) await p.m.close();
    peers.length = 0;
    await scene.stopRelay();
    for (const cid of contentIds) {
      expect(await filesContaining(dirs.alice, cid)).toEqual([]);
      expect(await filesContaining(dirs.bob, cid)).toEqual([]);
      expect(await filesContaining(dirs.relay, cid)).toEqual([]);
    }
    // The scan itself works: stored message ids are on disk (the vault's plaintext id column).
    expect((await filesContaining(dirs.alice, storedIds.alice[0]!.id)).length).toBeGreaterThan(0);

    // Stored ids: one shape in both directions, and no plaintext cell of either vault names a
    // direction (it is only inside the sealed rows).
    for (const who of ['alice', 'bob'] as const) {
      const ids = storedIds[who];
      expect(new Set(ids.map((m) => m.direction))).toEqual(new Set(['in', 'out']));
      for (const m of ids) expect(m.id).toMatch(/^m[0-9a-f]{32}$/);
      const cells = plaintextCells(join(dirs[who], DB_FILE));
      const ids2 = new Set(ids.map((m) => m.id));
      expect(cells.filter((c) => ids2.has(c.value)).length).toBeGreaterThanOrEqual(ids.length);
      for (const c of cells) expect(c.value, `${c.table}.${c.column}`).not.toMatch(/^(?:o|i)\.|\b(?:in|out|incoming|outgoing)\b/);
    }

    // The relay's idempotency records: Alice sent only texts, Bob sent receipts and one text;
    // every key has the same length and alphabet, so none tells a receipt from a text.
    const relayDb = new Database(join(dirs.relay, 'relay.db'), { readonly: true });
    const idems = relayDb.prepare('SELECT idem FROM idempotency').all() as { idem: string }[];
    relayDb.close();
    expect(idems.length).toBeGreaterThanOrEqual(5 + 2 + 1); // 5 texts, delivered + read receipts, 1 reply
    for (const { idem } of idems) expect(idem).toMatch(/^[0-9a-f]{32}$/);
  });
});
