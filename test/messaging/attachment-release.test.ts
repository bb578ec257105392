// The relay's copy of a file goes when nobody needs it any more (issue #15): the sender deletes
// the message for everyone (also while the relay is down and the profile closed: released after
// the restart), the sender's timer expires it, the only recipient deletes it unfetched, or the
// sender deletes for me a message never delivered (withdrawn with it). A sender's delete for me of
// a delivered one leaves it for the recipient. Two Messengers and a real relay process; the
// relay's blob directory is the witness.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { messagingScene, newPeer, reopen, waitFor, type Peer } from './helpers.ts';

const scene = messagingScene('release', ['alice', 'bob', 'files'] as const);
const blobs = (): string[] => readdirSync(join(scene.dirs.relay, 'blobs'));

/** Over the 2 MiB auto-download size, so bob does not fetch it on arrival. */
function bigFile(name: string): { path: string; bytes: Buffer } {
  const bytes = randomBytes(2 * 1024 * 1024 + 4321);
  const path = join(scene.dirs.files, name);
  writeFileSync(path, bytes);
  return { path, bytes };
}

async function arrived(bob: Peer, toAlice: string, caption: string): Promise<string> {
  let id: string | undefined;
  await waitFor(async () => {
    const page = await bob.m.historyPage({ conversationId: toAlice, anchor: { kind: 'newest' }, limit: 50 });
    id = page.messages.find((m) => m.text === caption && m.deleted !== true)?.id;
    return id !== undefined;
  }, 60_000, `bob gets "${caption}"`);
  return id!;
}

describe('relay blobs of deleted files', () => {
  it('released on delete for everyone (durably), on expiry, on an unfetched delete by the recipient, on the sender\'s delete for me of an undelivered one; kept on the sender\'s delete for me of a delivered one', { timeout: 240_000 }, async () => {
    const started = await scene.startRelay();
    let alice = await newPeer(scene.dirs.alice, 'alice', started.descriptorText);
    let bob = await newPeer(scene.dirs.bob, 'bob', started.descriptorText);
    scene.peers.push(alice, bob);
    const toBob = (await alice.m.contactAdd({ handle: 'bob' })).conversationId;
    await alice.m.sendText({ conversationId: toBob, text: 'hello' });
    await waitFor(async () => (await bob.m.contactsList()).length === 1, 60_000, 'bob sees alice');
    const toAlice = (await bob.m.contactsList())[0]!.conversationId;

    // 1. Delete for everyone while connected: the blob goes at once (bob is offline, so it is
    //    alice's release, not bob's reaction to the delete).
    const one = bigFile('one.bin');
    const sent1 = await alice.m.sendFile({ conversationId: toBob, path: one.path, caption: 'one' });
    await arrived(bob, toAlice, 'one');
    expect(blobs()).toHaveLength(1);
    await bob.m.close();
    await alice.m.deleteMessage({ conversationId: toBob, messageId: sent1.id, forEveryone: true });
    await waitFor(() => blobs().length === 0, 30_000, 'the blob released after delete for everyone');
    // 1b. Never delivered (bob offline), deleted for me by alice: the send is withdrawn, and its
    //     blob released rather than kept for 30 days; bob never sees the message.
    const six = bigFile('six.bin');
    const sent6 = await alice.m.sendFile({ conversationId: toBob, path: six.path, caption: 'six' });
    expect(blobs()).toHaveLength(1);
    await alice.m.deleteMessage({ conversationId: toBob, messageId: sent6.id });
    await waitFor(() => blobs().length === 0, 30_000, 'the undelivered file\'s blob released after delete for me');
    bob = await reopen(scene.dirs.bob);
    scene.peers.push(bob);

    // 2. The sender's delete for me leaves the recipient's copy fetchable; the recipient's own
    //    delete of it, unfetched, drops the last claim and the relay deletes it.
    const two = bigFile('two.bin');
    const sent2 = await alice.m.sendFile({ conversationId: toBob, path: two.path, caption: 'two' });
    const got2 = await arrived(bob, toAlice, 'two');
    await waitFor(async () => {
      const page = await alice.m.historyPage({ conversationId: toBob, anchor: { kind: 'newest' }, limit: 50 });
      return page.messages.find((m) => m.id === sent2.id)?.state === 'delivered';
    }, 60_000, 'alice sees "two" delivered');
    await alice.m.deleteMessage({ conversationId: toBob, messageId: sent2.id });
    await alice.m.sync({ timeoutMs: 30_000 });
    expect(blobs()).toHaveLength(1);
    const [att2] = await bob.m.attachmentsOf({ messageIds: [got2] });
    const three = bigFile('three.bin');
    await alice.m.sendFile({ conversationId: toBob, path: three.path, caption: 'three' });
    const got3 = await arrived(bob, toAlice, 'three');
    expect(blobs()).toHaveLength(2);
    await bob.m.saveAttachment({ attachmentId: att2!.id, path: join(scene.dirs.files, 'two.out') });
    expect(readFileSync(join(scene.dirs.files, 'two.out')).equals(two.bytes)).toBe(true);
    await waitFor(() => blobs().length === 1, 30_000, 'the fetched blob deleted');
    await bob.m.deleteMessage({ conversationId: toAlice, messageId: got3 });
    await waitFor(() => blobs().length === 0, 30_000, 'the unfetched blob released by its only recipient');
    const bobsPage = await bob.m.historyPage({ conversationId: toAlice, anchor: { kind: 'newest' }, limit: 50 });
    expect(bobsPage.messages.some((m) => m.text === 'six')).toBe(false);

    // 3. Deleted for everyone while the relay is down, the profile closed before it comes back:
    //    the release waits sealed in the vault and goes at the next connection.
    const four = bigFile('four.bin');
    const sent4 = await alice.m.sendFile({ conversationId: toBob, path: four.path, caption: 'four' });
    await arrived(bob, toAlice, 'four');
    expect(blobs()).toHaveLength(1);
    await bob.m.close();
    await scene.stopRelay();
    await alice.m.deleteMessage({ conversationId: toBob, messageId: sent4.id, forEveryone: true });
    await alice.m.close();
    await scene.startRelay(started.port);
    expect(blobs()).toHaveLength(1);
    alice = await reopen(scene.dirs.alice);
    scene.peers.push(alice);
    await waitFor(() => blobs().length === 0, 60_000, 'the blob released after the restart');
    bob = await reopen(scene.dirs.bob);
    scene.peers.push(bob);

    // 4. Sent under a 30 s timer: when it expires on the sender's side, the relay's copy goes too.
    await alice.m.setDisappearingTimer({ conversationId: toBob, seconds: 30 });
    const five = bigFile('five.bin');
    await alice.m.sendFile({ conversationId: toBob, path: five.path, caption: 'five' });
    await waitFor(() => blobs().length === 1, 30_000, 'the timed file at the relay');
    await waitFor(() => blobs().length === 0, 90_000, 'the blob released at expiry');
  });
});
