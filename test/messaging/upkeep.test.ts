// Prekey upkeep by the Messenger: after registration the relay holds 100 + 100 one-time keys;
// when the relay lost everything (its prekey tables emptied while it was down), the next
// connect re-uploads the identity and fresh one-time keys, and a new contact can start a
// session and message us.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fullHistory, messagingScene, newPeer, waitFor } from './helpers.ts';

const scene = messagingScene('u', ['alice', 'carol'] as const);
const { dirs, peers: open } = scene;

function keyRows(sql: string): number {
  const db = new Database(join(dirs.relay, 'relay.db'));
  try {
    return (db.prepare(sql).get() as { n: number }).n;
  } finally {
    db.close();
  }
}

describe('prekey upkeep', () => {
  it('uploads 100 + 100 at registration and everything again after the relay lost it', async () => {
    const started = await scene.startRelay();
    const alice = await newPeer(dirs.alice, 'alice', started.descriptorText);
    open.push(alice);
    expect(keyRows('SELECT COUNT(*) AS n FROM prekey_one_time WHERE kind = 0')).toBe(100);
    expect(keyRows('SELECT COUNT(*) AS n FROM prekey_one_time WHERE kind = 1')).toBe(100);

    await started.relay.kill('SIGKILL');
    const n = keyRows('SELECT COUNT(*) AS n FROM prekey_identity');
    expect(n).toBe(1);
    const db = new Database(join(dirs.relay, 'relay.db'));
    db.exec('DELETE FROM prekey_one_time; DELETE FROM prekey_identity;');
    db.close();
    await scene.startRelay(started.port);

    await waitFor(
      () => keyRows('SELECT COUNT(*) AS n FROM prekey_one_time WHERE kind = 1') === 100 && keyRows('SELECT COUNT(*) AS n FROM prekey_one_time WHERE kind = 0') === 100,
      60_000,
      're-upload',
    );
    expect(keyRows('SELECT COUNT(*) AS n FROM prekey_identity')).toBe(1);

    const carol = await newPeer(dirs.carol, 'carol', started.descriptorText);
    open.push(carol);
    const conv = (await carol.m.contactAdd({ handle: 'alice' })).conversationId;
    await carol.m.sendText({ conversationId: conv, text: 'hello after the reset' });
    await waitFor(async () => {
      const c = (await alice.m.contactsList()).find((x) => x.handle === 'carol');
      return c !== undefined && (await fullHistory(alice.m, c.conversationId)).length === 1;
    }, 60_000, 'alice receives');
    // One one-time key of each kind went to carol.
    expect(keyRows('SELECT COUNT(*) AS n FROM prekey_one_time WHERE kind = 0')).toBe(99 + 100);
  }, 300_000);
});
