// Receipts across a lock and at the end of a sync (main/messenger/receipts.ts sendHeldReceipts,
// keepReceiptIds; session-lifecycle.ts lockNow; sync.ts). A member's delivered receipt waits for
// its batch (1:1: a quarter second; group: the author's burst, up to the gap or 60 s): a lock
// then sends it before the connection stops, so the author sees "delivered" while this device
// stays locked. A receipt that finds no connection at all (here: texts read in offline mode) waits
// sealed in the vault and goes after the next online unlock. A sync ends with held receipts out,
// however long their hold. Before: a lock dropped what was held, offline read receipts were
// dropped, and a sync during a stream ended before the receipt went.
// Real relay process, real libsignal, real vaults on disk.
import { beforeAll, describe, expect, it } from 'vitest';
import type { GroupMessage } from '../../shared/api.ts';
import { openMessenger, type Messenger } from '../../main/messenger.ts';
import { KEPT_GROUP_RECEIPTS } from '../../main/messenger/group-receipts.ts';
import { QUOTABLE_CONTENT_IDS } from '../../main/messenger/ids.ts';
import { KEPT_RECEIPTS } from '../../main/messenger/receipts.ts';
import type { UnlockedSession } from '../../main/messenger/session.ts';
import { TEST_KDF } from '../../main/vault/index.ts';
import { fullHistory, messagingScene, PASSWORD, peersOn, reopen, waitFor, type Peer } from './helpers.ts';

const scene = messagingScene('lock-receipts', ['alice', 'bob', 'carol']);
let alice: Peer, bob: Peer, carol: Peer;
let toBob = '';
let groupId = '';

const sessionOf = (p: { m: unknown }): UnlockedSession => (p.m as { life: { require(): UnlockedSession } }).life.require();
const ownGroupText = async (text: string): Promise<GroupMessage | undefined> =>
  (await alice.m.groupHistory({ groupId, limit: 200 })).messages.find((m) => m.direction === 'out' && m.text === text);
const ownText = async (text: string) => (await fullHistory(alice.m, toBob)).find((m) => m.direction === 'out' && m.text === text);
/** The text arrived at `p` (its `message` or `group` event, pushed as it is stored). */
const arrived = (p: Peer, text: string): boolean =>
  p.events.some((e) => (e.name === 'message' && e.payload.text === text) || (e.name === 'groupActivity' && e.payload.lastMessage?.text === text));

beforeAll(async () => {
  ({ alice, bob, carol } = await peersOn(scene, ['alice', 'bob', 'carol'], 'lr_'));
  toBob = (await alice.m.contactAdd({ handle: 'lr_bob' })).conversationId;
  await alice.m.sendText({ conversationId: toBob, text: 'hello' });
  groupId = (await alice.m.groupCreate({ name: 'Lock', members: ['lr_bob', 'lr_carol'] })).groupId;
  for (const p of [bob, carol]) await waitFor(async () => (await p.m.groupsList()).some((g) => g.groupId === groupId), 30_000, 'the group at every member');
  await waitFor(async () => (await ownText('hello'))?.state === 'delivered', 30_000, 'hello delivered');
}, 180_000);

describe('receipts and lock', () => {
  it('a lock right after texts arrive sends the held delivered receipts: the author sees them while the member stays locked', async () => {
    bob.events.length = 0;
    await alice.m.sendText({ conversationId: toBob, text: 'direct, then lock' });
    await alice.m.groupSend({ groupId, text: 'group, then lock' });
    await waitFor(() => arrived(bob, 'direct, then lock') && arrived(bob, 'group, then lock'), 30_000, 'both at bob');
    // At once: the group receipt is held for the burst (1.5 s and more), the 1:1 one a quarter second.
    await bob.m.lock();
    expect((await bob.m.vaultStatus()).vault).toBe('locked');

    await waitFor(async () => (await ownGroupText('group, then lock'))?.receipts?.delivered === 2, 30_000, 'the group text delivered to both');
    expect((await alice.m.groupReceipts({ groupId, messageId: (await ownGroupText('group, then lock'))!.id })).members.map((m) => [m.handle, m.deliveredAt !== undefined])).toEqual([
      ['lr_bob', true],
      ['lr_carol', true],
    ]);
    await waitFor(async () => (await ownText('direct, then lock'))?.state === 'delivered', 30_000, 'the direct text delivered');
    expect((await bob.m.vaultStatus()).vault).toBe('locked');
    await bob.m.unlock({ password: PASSWORD });
  });

  /**
   * Alice sends `label (direct)` and `label (group)`; bob reads both in offline mode (the CLI's
   * one-shot commands: no connection is ever opened), so both read receipts are kept sealed;
   * `meanwhile` runs on that offline messenger before it closes. Then bob is back online.
   */
  async function readOffline(label: string, meanwhile?: (offline: Messenger, read: { conversationId: string; direct: string; group: string }) => Promise<void>): Promise<Peer> {
    await alice.m.sendText({ conversationId: toBob, text: `${label} (direct)` });
    await alice.m.groupSend({ groupId, text: `${label} (group)` });
    await waitFor(async () => (await ownText(`${label} (direct)`))?.state === 'delivered', 30_000, 'direct delivered');
    await waitFor(async () => (await ownGroupText(`${label} (group)`))?.receipts?.delivered === 2, 30_000, 'group delivered');
    await bob.m.close();
    const offline = await openMessenger({ profileDir: bob.dir, kdf: TEST_KDF, offline: true });
    try {
      await offline.unlock({ password: PASSWORD });
      const conv = (await offline.conversationsList({}))[0]!;
      const direct = (await fullHistory(offline, conv.id)).at(-1)!;
      expect(direct.text).toBe(`${label} (direct)`);
      await offline.markRead({ conversationId: conv.id, upToMessageId: direct.id });
      const group = (await offline.groupHistory({ groupId, limit: 200 })).messages.at(-1)!;
      expect(group.text).toBe(`${label} (group)`);
      await offline.groupMarkRead({ groupId, upToMessageId: group.id });
      // Sealed in the vault until a connection: one entry for alice per kind of chat.
      const vault = sessionOf({ m: offline }).vault;
      await waitFor(() => vault.kvKeys(KEPT_RECEIPTS).length === 1 && vault.kvKeys(KEPT_GROUP_RECEIPTS).length === 1, 30_000, 'the read receipts kept');
      await meanwhile?.(offline, { conversationId: conv.id, direct: direct.id, group: group.id });
    } finally {
      await offline.close();
    }
    expect((await ownText(`${label} (direct)`))?.state).toBe('delivered');
    const online = await reopen(bob.dir);
    scene.peers.push(online);
    bob = online;
    return online;
  }

  it('read receipts made without a connection wait sealed and go after the next online unlock', async () => {
    const online = await readOffline('read offline');
    // Online again: both go, and the entries are gone.
    await waitFor(async () => (await ownText('read offline (direct)'))?.state === 'read', 30_000, 'direct read at alice');
    await waitFor(async () => (await ownGroupText('read offline (group)'))?.receipts?.read === 1, 30_000, 'group read by one at alice');
    const vault = sessionOf(online).vault;
    await waitFor(() => vault.kvKeys(KEPT_RECEIPTS).length === 0 && vault.kvKeys(KEPT_GROUP_RECEIPTS).length === 0, 30_000, 'the kept entries gone');
  });

  it('a kept read receipt is forgotten when its text is deleted: no kept list names it, none goes out', async () => {
    const online = await readOffline('read, then deleted', async (offline, read) => {
      const vault = sessionOf({ m: offline }).vault;
      const named = (cid: string): boolean =>
        [KEPT_RECEIPTS, KEPT_GROUP_RECEIPTS].some((ns) => vault.kvKeys(ns).some((k) => Buffer.from(vault.kvGet(ns, k)!).toString('utf8').includes(cid)));
      // A 1:1 text's content id is in its sealed entry (inbound.ts), a group text's in its quotable entry.
      const cids = [vault.getMessage(read.direct)!.contentId!, Buffer.from(vault.kvGet(QUOTABLE_CONTENT_IDS, read.group)!).toString('utf8')];
      expect(cids.map(named)).toEqual([true, true]);
      await offline.deleteMessage({ conversationId: read.conversationId, messageId: read.direct });
      await offline.deleteMessage({ conversationId: `g${groupId}`, messageId: read.group });
      await waitFor(() => cids.every((cid) => !named(cid)), 30_000, 'the kept ids gone with the texts');
    });
    expect(await online.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    expect((await ownText('read, then deleted (direct)'))?.state).toBe('delivered');
    expect((await ownGroupText('read, then deleted (group)'))?.receipts?.read).toBe(0);
  });

  it('a sync during a stream of group texts ends with the held delivered receipt out', async () => {
    // Texts under 1.5 s apart keep the member's receipt held (up to 60 s); the sync does not wait for that.
    const texts = Array.from({ length: 20 }, (_, i) => `stream ${String(i)}`);
    let streaming = true;
    const stream = (async () => {
      for (const text of texts) {
        await alice.m.groupSend({ groupId, text });
        await new Promise((r) => setTimeout(r, 300));
      }
      streaming = false;
    })();
    await waitFor(async () => (await carol.m.groupHistory({ groupId, limit: 5 })).messages.some((m) => m.text === 'stream 1'), 30_000, 'the stream at carol');
    // No quiet time asked for: what has come so far is what the sync is about. (Its bound is only
    // a bound: a sync that waited for the stream's end is caught by the check after it.)
    expect(await carol.m.sync({ timeoutMs: 30_000, quietMs: 0 })).toEqual({ done: true });
    const stored = (await carol.m.groupHistory({ groupId, limit: 50 })).messages.filter((m) => m.text.startsWith('stream ')).map((m) => m.text);
    expect(streaming || stored.length < texts.length).toBe(true);
    // Every text carol held when the sync returned shows carol's delivered receipt at alice's.
    const own = (await alice.m.groupHistory({ groupId, limit: 50 })).messages.filter((m) => m.direction === 'out' && stored.includes(m.text));
    expect(own).toHaveLength(stored.length);
    const byCarol = async (messageId: string): Promise<boolean> =>
      (await alice.m.groupReceipts({ groupId, messageId })).members.some((m) => m.handle === 'lr_carol' && m.deliveredAt !== undefined);
    await waitFor(async () => (await Promise.all(own.map((m) => byCarol(m.id)))).every(Boolean), 30_000, "carol's receipts at alice");
    await stream;
  });
});
