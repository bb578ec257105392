// The relay answers an ack without waiting for the -wal fsync (relay/core.ts RELAXED_WRITES): a
// power cut may lose the delete, and then the relay pushes the envelope again after its restart.
// That must be harmless: the client de-duplicates, so each message shows once. Here the lost
// deletes are made by hand: bob's envelopes are saved as the relay held them, bob receives and
// acknowledges them (the queue empties), the relay is killed and the rows are put back, as a disk
// that never got the deletes would hold them. After the restart bob is pushed all of them again.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { fullHistory, messagingScene, newPeer, reopen, waitFor, type Peer } from '../messaging/helpers.ts';

const scene = messagingScene('lost-ack', ['alice', 'bob']);
const { dirs, peers } = scene;
const N = 3;
const label = (i: number): string => `lost-ack-${i}`;

interface QueueRow { id: number; recipient: Buffer; sender_handle: string; body: Buffer; created_at: number; expires_at: number }

function relayDb(readonly: boolean): Database.Database {
  return new Database(join(dirs.relay, 'relay.db'), { readonly, fileMustExist: true });
}

/** Bob's queued envelopes, as rows (read beside the running relay). */
function queueFor(handle: string): QueueRow[] {
  const db = relayDb(true);
  try {
    return db.prepare('SELECT q.* FROM queue q JOIN devices d ON q.recipient = d.perm_key_id WHERE d.handle = ? ORDER BY q.id').all(handle) as QueueRow[];
  } finally {
    db.close();
  }
}

describe('an acknowledged envelope pushed again (its delete lost) is harmless', () => {
  it('bob gets his envelopes again after the relay restarts and shows each message once', async () => {
    const started = await scene.startRelay();
    const alice = await newPeer(dirs.alice, 'alice', started.descriptorText);
    peers.push(alice);
    const bobFirst = await newPeer(dirs.bob, 'bob', started.descriptorText);
    await bobFirst.m.close();
    const toBob = (await alice.m.contactAdd({ handle: 'bob' })).conversationId;
    for (let i = 0; i < N; i++) await alice.m.sendText({ conversationId: toBob, text: label(i) });
    expect(await alice.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    const saved = queueFor('bob');
    expect(saved).toHaveLength(N);

    let bob: Peer | undefined = await reopen(dirs.bob);
    try {
      await waitFor(async () => (await bob!.m.contactsList()).length === 1, 60_000, 'bob sees alice');
      const conv = (await bob.m.contactsList())[0]!.conversationId;
      const texts = async (p: Peer): Promise<string[]> => (await fullHistory(p.m, conv)).map((m) => m.text ?? '');
      await waitFor(async () => (await texts(bob!)).length === N, 60_000, 'bob has the messages');
      await waitFor(() => queueFor('bob').length === 0, 60_000, 'bob acknowledged them');
      await bob.m.close();
      bob = undefined;

      // The power cut: the deletes never reached the disk.
      await scene.stopRelay();
      const db = relayDb(false);
      try {
        const put = db.prepare('INSERT INTO queue (id, recipient, sender_handle, body, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)');
        for (const r of saved) put.run(r.id, r.recipient, r.sender_handle, r.body, r.created_at, r.expires_at);
      } finally {
        db.close();
      }
      expect(queueFor('bob')).toHaveLength(N);

      await scene.startRelay(started.port);
      bob = await reopen(dirs.bob);
      // Pushed again and acknowledged again: the queue empties only once bob got them.
      await waitFor(() => queueFor('bob').length === 0, 60_000, 'bob got them again and acknowledged them');
      expect(await bob.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
      expect(await texts(bob)).toEqual(Array.from({ length: N }, (_, i) => label(i)));
    } finally {
      await bob?.m.close();
    }
  });
});
