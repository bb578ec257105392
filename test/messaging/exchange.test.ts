// Two profiles on a real relay child process exchange 100 messages each way through the
// Messenger API: both histories are equal, in order, without duplicates, and nothing of the
// text is on disk in either profile or in the relay's data directory.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Message } from '../../shared/api.ts';
import { filesContaining, fullHistory, messagingScene, newPeer, tempDir, waitFor } from './helpers.ts';

const N = 100;
const scene = messagingScene('exchange', ['alice', 'bob']);
const { dirs, peers } = scene;

const marker = (from: string, i: number) => `zq-${from}-secret-${String(i).padStart(3, '0')}-ünïcødé`;

function texts(h: Message[]): string[] {
  return h.map((m) => m.text);
}

describe('two profiles exchange messages', () => {
  it('100 each way: equal histories, in order, no duplicates, nothing readable at rest', async () => {
    const started = await scene.startRelay();
    const alice = await newPeer(dirs.alice, 'alice', started.descriptorText);
    const bob = await newPeer(dirs.bob, 'bob', started.descriptorText);
    peers.push(alice, bob);

    const bobContact = await alice.m.contactAdd({ handle: 'bob' });
    // Alice's first message takes the PreKey path; Bob's replies use the normal path.
    await alice.m.sendText({ conversationId: bobContact.conversationId, text: marker('a', 0) });
    await waitFor(async () => (await bob.m.contactsList()).length === 1, 60_000, 'bob sees alice');
    const aliceContact = (await bob.m.contactsList())[0]!;
    expect(aliceContact.handle).toBe('alice');

    for (let i = 1; i < N; i++) {
      await alice.m.sendText({ conversationId: bobContact.conversationId, text: marker('a', i) });
      await bob.m.sendText({ conversationId: aliceContact.conversationId, text: marker('b', i - 1) });
    }
    await bob.m.sendText({ conversationId: aliceContact.conversationId, text: marker('b', N - 1) });

    await waitFor(async () => (await fullHistory(alice.m, bobContact.conversationId)).length === 2 * N, 120_000, 'alice history');
    await waitFor(async () => (await fullHistory(bob.m, aliceContact.conversationId)).length === 2 * N, 120_000, 'bob history');
    await alice.m.sync({ timeoutMs: 30_000 });
    await bob.m.sync({ timeoutMs: 30_000 });

    const ha = await fullHistory(alice.m, bobContact.conversationId);
    const hb = await fullHistory(bob.m, aliceContact.conversationId);
    // Each side's own messages and the other's, each in send order, no duplicates.
    const fromA = (h: Message[], dir: 'in' | 'out') => texts(h.filter((m) => m.direction === dir));
    const expectA = Array.from({ length: N }, (_, i) => marker('a', i));
    const expectB = Array.from({ length: N }, (_, i) => marker('b', i));
    expect(fromA(ha, 'out')).toEqual(expectA);
    expect(fromA(ha, 'in')).toEqual(expectB);
    expect(fromA(hb, 'out')).toEqual(expectB);
    expect(fromA(hb, 'in')).toEqual(expectA);
    expect(new Set(ha.map((m) => m.id)).size).toBe(2 * N);
    expect(new Set(hb.map((m) => m.id)).size).toBe(2 * N);

    // Delivery receipts came back inside the E2E layer.
    await waitFor(async () => (await fullHistory(alice.m, bobContact.conversationId)).filter((m) => m.direction === 'out').every((m) => m.state === 'delivered'), 60_000, 'delivered receipts');
    // Read receipts: Bob reads everything; Alice sees 'read'.
    await bob.m.markRead({ conversationId: aliceContact.conversationId, upToMessageId: hb.at(-1)!.id });
    expect((await bob.m.conversationsList({}))[0]!.unread).toBe(0);
    await waitFor(async () => (await fullHistory(alice.m, bobContact.conversationId)).filter((m) => m.direction === 'out').every((m) => m.state === 'read'), 60_000, 'read receipts');

    // Safety numbers agree.
    const sa = await alice.m.safetyNumber({ contactId: bobContact.id });
    const sb = await bob.m.safetyNumber({ contactId: aliceContact.id });
    expect(sa.digits).toMatch(/^\d{60}$/);
    expect(sa.digits).toBe(sb.digits);

    // Search finds a message by a word of its text.
    const found = await alice.m.search({ query: 'secret', order: 'newest', limit: 5 });
    expect(found.hits.length).toBe(5);
    expect(found.truncated).toBe(true);

    // Byte scan of everything at rest: profiles (locked) and the relay's data directory.
    // First, the scan itself finds a planted marker in either encoding.
    const planted = tempDir('scan-check');
    try {
      writeFileSync(join(planted.dir, 'u16'), Buffer.concat([Buffer.from([0, 1]), Buffer.from(marker('a', 7), 'utf16le')]));
      writeFileSync(join(planted.dir, 'u8'), `x${marker('b', 7)}y`);
      expect(await filesContaining(planted.dir, marker('a', 7))).toHaveLength(1);
      expect(await filesContaining(planted.dir, marker('b', 7))).toHaveLength(1);
    } finally {
      planted.cleanup();
    }
    await alice.m.lock();
    await bob.m.lock();
    for (const dir of [dirs.alice, dirs.bob, dirs.relay]) {
      for (const i of [0, 1, 42, N - 1]) {
        expect(await filesContaining(dir, marker('a', i))).toEqual([]);
        expect(await filesContaining(dir, marker('b', i))).toEqual([]);
      }
      expect(await filesContaining(dir, 'zq-a-secret')).toEqual([]);
    }
  });
});
