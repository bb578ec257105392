// A backup import merges in one vault transaction that stays open across event-loop turns. A
// message that arrives meanwhile must not be lost or left at the relay: the messenger holds its
// inbox until the merge is over, then stores and acknowledges it as usual. A send started
// during the import waits too, and both histories come out whole.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportBackup } from '../../main/backup/index.ts';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import type { NewMessage } from '../../main/vault/api.ts';
import { fullHistory, messagingScene, newPeer, waitFor } from './helpers.ts';

const ARCHIVED = 60_000;
const scene = messagingScene('import', ['alice', 'bob', 'archive']);
const { dirs, peers } = scene;

/** A backup of an old profile: one contact, one conversation, ARCHIVED messages. */
async function archive(file: string): Promise<void> {
  const { vault } = await Vault.create(join(dirs.archive, 'old-profile'), 'old profile password', { kdf: TEST_KDF });
  try {
    vault.upsertContact({ id: 'old-contact', handle: 'carol', displayName: 'Carol', identityChanged: false, createdAt: 1 });
    vault.upsertConversation({ id: 'old-conversation', kind: 'direct', contactId: 'old-contact', title: 'Carol', lastActivity: 1, unread: 0 });
    for (let b = 0; b < ARCHIVED; b += 10_000) {
      const batch: NewMessage[] = [];
      for (let n = b; n < b + 10_000; n++) {
        batch.push({ id: `old-${n}`, conversationId: 'old-conversation', direction: n % 2 ? 'out' : 'in', sender: n % 2 ? 'self' : 'old-contact', sentAt: 1_600_000_000_000 + n, receivedAt: 1_600_000_000_000 + n, text: `archived message ${n}`, state: 'read' });
      }
      vault.appendMessages(batch);
    }
    await exportBackup(vault, file, { keys: { passphrase: 'archive pass', workFactor: 10 } });
  } finally {
    vault.lock();
  }
}

describe('a message that arrives during a backup import', () => {
  it('waits for the merge, then is stored and acknowledged; a send meanwhile waits too', async () => {
    const file = join(dirs.archive, 'old.age');
    await archive(file);
    const started = await scene.startRelay();
    const alice = await newPeer(dirs.alice, 'alice', started.descriptorText);
    const bob = await newPeer(dirs.bob, 'bob', started.descriptorText);
    peers.push(alice, bob);
    const toBob = await alice.m.contactAdd({ handle: 'bob' });
    await alice.m.sendText({ conversationId: toBob.conversationId, text: 'hello before' });
    await waitFor(async () => (await bob.m.contactsList()).length === 1, 60_000, 'bob sees alice');
    const toAlice = (await bob.m.contactsList())[0]!;
    const hello = (await fullHistory(bob.m, toAlice.conversationId))[0]!;

    // Once Bob's merge is under way, Alice writes and Bob replies.
    let duringImport: Promise<unknown> | undefined;
    let bobReply: Promise<unknown> | undefined;
    let bobReads: Promise<unknown> | undefined;
    const unsubscribe = bob.m.subscribe((e) => {
      if (e.name !== 'backupProgress' || e.payload.phase !== 'merging' || e.payload.done < 2000 || duringImport) return;
      duringImport = alice.m.sendText({ conversationId: toBob.conversationId, text: 'written during the import' });
      bobReply = bob.m.sendText({ conversationId: toAlice.conversationId, text: 'reply during the import' });
      // a local write the UI makes on its own while a chat is open: it waits, it does not fail
      bobReads = bob.m.markRead({ conversationId: toAlice.conversationId, upToMessageId: hello.id });
    });
    // When the relay took Alice's message (it pushes to Bob, who is online, at once).
    let acceptedAt = 0;
    const unsubscribeAlice = alice.m.subscribe((e) => {
      if (e.name === 'messageState' && e.payload.state === 'sent' && acceptedAt === 0) acceptedAt = Date.now();
    });
    const imported = await bob.m.backupImport({ jobId: 'import-1', path: file, key: { kind: 'passphrase', passphrase: 'archive pass' }, trustUnsigned: true });
    const importedAt = Date.now();
    unsubscribe();
    expect(imported.messagesAdded).toBe(ARCHIVED);
    expect(duringImport).toBeDefined();
    await duringImport;
    await bobReply;
    await bobReads;
    // The case under test happened: the envelope reached Bob while his merge was still open.
    await waitFor(() => acceptedAt > 0, 30_000, 'the relay accepting alice\'s message');
    unsubscribeAlice();
    expect(acceptedAt).toBeLessThan(importedAt);

    const withAlice = async (): Promise<string[]> => (await fullHistory(bob.m, toAlice.conversationId)).map((m) => m.text);
    await waitFor(async () => (await withAlice()).includes('written during the import'), 30_000, 'the message sent during the import');
    await waitFor(async () => (await withAlice()).length === 3, 30_000, 'bob\'s reply stored');
    // each exactly once; the two held ones in whichever order the merge released them
    expect([...(await withAlice())].sort()).toEqual(['hello before', 'reply during the import', 'written during the import']);
    await waitFor(async () => (await fullHistory(alice.m, toBob.conversationId)).some((m) => m.text === 'reply during the import'), 30_000, 'bob\'s reply at alice');
    const archived = (await bob.m.conversationsList({})).find((c) => c.id !== toAlice.conversationId);
    expect(archived?.title).toBe('Carol');
    expect((await fullHistory(bob.m, toAlice.conversationId)).find((m) => m.id === hello.id)?.state).toBe('read');
    expect((await fullHistory(bob.m, archived!.id)).length).toBe(ARCHIVED);
  });
});
