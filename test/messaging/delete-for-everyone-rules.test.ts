// The rules of "delete for everyone" on a real vault (issue #14), without a relay: the sender may
// delete only its own messages within 24 h; a recipient applies a delete only to that sender's
// own messages, only within 24 h of their sending, and remembers a delete that came before its
// message, which is then stored as a tombstone (without its text) when it arrives.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { DeleteContent, MessageContent } from '../../main/e2e/index.ts';
import {
  DELETE_ARRIVAL_ALLOWANCE_MS, DELETE_FOR_EVERYONE_WINDOW_MS, DELETED_BEFORE_ARRIVAL, isTombstone, MAX_DELETED_BEFORE_ARRIVAL, ownContentIdToDelete, TOMBSTONES,
} from '../../main/messenger/delete-for-everyone.ts';
import { conversationToDelete, deleteFromVault } from '../../main/messenger/deletion.ts';
import { conversationIdOf, incomingMessageId, OUTGOING_CONTENT_IDS, outgoingMessageId } from '../../main/messenger/ids.ts';
import { storeInbound, type InboundSteps } from '../../main/messenger/inbound.ts';
import type { ContactRecord } from '../../main/vault/api.ts';
import type { Vault } from '../../main/vault/index.ts';
import { testVaults } from '../vault/helpers.ts';

const vaults = testVaults();
afterEach(() => vaults.cleanup());

const idKey = randomBytes(32);
const T = 1_700_000_000_000;
const contact = (id: string, handle: string): ContactRecord => ({ id, handle, displayName: handle, identityChanged: false, createdAt: T });
const alice = contact(`c${'a'.repeat(24)}`, 'alice');
const mallory = contact(`c${'b'.repeat(24)}`, 'mallory');

function steps(vault: Vault): InboundSteps {
  return {
    contactFor: (handle) => vault.findContactByHandle(handle)!,
    withIdKey: (fn) => fn(idKey),
    touchConversation: () => undefined,
    setState: () => undefined,
  };
}

const text = (id: string, sentAt: number, body: string): MessageContent => ({ v: 1, kind: 'text', id, sentAt, text: body });
const del = (ids: string[], sentAt: number): DeleteContent => ({ v: 1, kind: 'delete', id: randomBytes(8).toString('hex'), sentAt, ids });

async function scene(): Promise<Vault> {
  const { vault } = await vaults.fresh();
  for (const c of [alice, mallory]) {
    vault.upsertContact(c);
    vault.upsertConversation({ id: conversationIdOf(c.id), kind: 'direct', contactId: c.id, title: c.handle, lastActivity: T, unread: 0 });
  }
  return vault;
}

const textOf = (vault: Vault, id: string): string | undefined => vault.getMessage(id)?.text;

describe('delete for everyone: the rules', () => {
  it('the sender: only its own messages, only within 24 hours', async () => {
    const vault = await scene();
    const own = { id: outgoingMessageId(idKey, 'own-1'), conversationId: conversationIdOf(alice.id), direction: 'out' as const, sender: 'self', sentAt: T, receivedAt: T, text: 'mine', state: 'sent' as const };
    const [stored] = vault.appendMessages([own]);
    vault.kvSet(OUTGOING_CONTENT_IDS, own.id, Buffer.from('own-1'));
    expect(ownContentIdToDelete(vault, stored!, T + DELETE_FOR_EVERYONE_WINDOW_MS)).toBe('own-1');
    expect(() => ownContentIdToDelete(vault, stored!, T + DELETE_FOR_EVERYONE_WINDOW_MS + 1)).toThrow(expect.objectContaining({ code: 'NOT_AVAILABLE' }));
    storeInbound(vault, 'alice', text('theirs-1', T, 'theirs'), steps(vault));
    const theirs = vault.getMessage(incomingMessageId(idKey, alice.id, 'theirs-1'))!;
    expect(() => ownContentIdToDelete(vault, theirs, T)).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
  });

  it('a recipient: only the author\'s own messages, only within 24 hours of their sending', async () => {
    const vault = await scene();
    const s = steps(vault);
    storeInbound(vault, 'alice', text('a-1', T, 'alice one'), s);
    storeInbound(vault, 'alice', text('a-2', T, 'alice two'), s);
    storeInbound(vault, 'mallory', text('m-1', T, 'mallory one'), s);
    const ours = { id: outgoingMessageId(idKey, 'o-1'), conversationId: conversationIdOf(alice.id), direction: 'out' as const, sender: 'self', sentAt: T, receivedAt: T, text: 'ours', state: 'sent' as const };
    vault.appendMessages([ours]);
    const a1 = incomingMessageId(idKey, alice.id, 'a-1');
    const a2 = incomingMessageId(idKey, alice.id, 'a-2');

    // Mallory names Alice's message and ours: her delete maps to her own (absent) ids, nothing changes.
    expect(storeInbound(vault, 'mallory', del(['a-1', 'o-1'], T + 1), s)).toMatchObject({ kind: 'deletedForEveryone', changed: [] });
    // Alice names our message: not hers, nothing changes.
    expect(storeInbound(vault, 'alice', del(['o-1'], T + 1), s)).toMatchObject({ changed: [] });
    // Alice, more than 24 h after sending a-2: refused.
    expect(storeInbound(vault, 'alice', del(['a-2'], T + DELETE_FOR_EVERYONE_WINDOW_MS + 1), s)).toMatchObject({ changed: [] });
    expect([textOf(vault, a1), textOf(vault, a2), textOf(vault, ours.id), textOf(vault, incomingMessageId(idKey, mallory.id, 'm-1'))])
      .toEqual(['alice one', 'alice two', 'ours', 'mallory one']);
    // Within 24 h: a tombstone in place, text gone.
    const effect = storeInbound(vault, 'alice', del(['a-1'], T + DELETE_FOR_EVERYONE_WINDOW_MS), s);
    expect(effect).toMatchObject({ kind: 'deletedForEveryone', conversationId: conversationIdOf(alice.id) });
    expect(effect.kind === 'deletedForEveryone' && effect.changed.map((m) => [m.id, m.text])).toEqual([[a1, '']]);
    expect(isTombstone(vault, a1)).toBe(true);
    expect(vault.getMessage(a1)).toMatchObject({ text: '', sentAt: T, sender: alice.id, direction: 'in' });
    expect([...vault.iterateMessages(conversationIdOf(alice.id))].map((m) => m.id)).toEqual([a1, a2, ours.id]);
    // Again: nothing more to do.
    expect(storeInbound(vault, 'alice', del(['a-1'], T + 5), s)).toMatchObject({ changed: [] });
  });

  it('a recipient also judges by its own clock: a delete arriving more than 24 h (plus the allowance) after the message came is refused', async () => {
    const vault = await scene();
    const now = Date.now();
    const conversationId = conversationIdOf(alice.id);
    const receivedAgo = (ms: number, cid: string, body: string): string => {
      const id = incomingMessageId(idKey, alice.id, cid);
      // Alice's clock claims she sent it a minute ago; it came here long before.
      vault.appendMessages([{ id, conversationId, direction: 'in', sender: alice.id, sentAt: now - 60_000, receivedAt: now - ms, text: body, state: 'received' }]);
      return id;
    };
    const old = receivedAgo(DELETE_FOR_EVERYONE_WINDOW_MS + DELETE_ARRIVAL_ALLOWANCE_MS + 60_000, 'old-1', 'kept for good');
    const recent = receivedAgo(DELETE_FOR_EVERYONE_WINDOW_MS + DELETE_ARRIVAL_ALLOWANCE_MS - 60_000, 'recent-1', 'still deletable');
    expect(DELETE_ARRIVAL_ALLOWANCE_MS).toBe(3600 * 1000);
    const effect = storeInbound(vault, 'alice', del(['old-1', 'recent-1'], now), steps(vault));
    expect(effect.kind === 'deletedForEveryone' && effect.changed.map((m) => m.id)).toEqual([recent]);
    expect([textOf(vault, old), textOf(vault, recent)]).toEqual(['kept for good', '']);
    expect([isTombstone(vault, old), isTombstone(vault, recent)]).toEqual([false, true]);
  });

  it('a tombstone deleted for me leaves no mark behind (nor does a deleted chat)', async () => {
    const vault = await scene();
    const s = steps(vault);
    storeInbound(vault, 'alice', text('t-1', T, 'first'), s);
    storeInbound(vault, 'alice', text('t-2', T, 'second'), s);
    storeInbound(vault, 'alice', del(['t-1', 't-2'], T + 1), s);
    const [t1, t2] = [incomingMessageId(idKey, alice.id, 't-1'), incomingMessageId(idKey, alice.id, 't-2')];
    expect(vault.kvKeys(TOMBSTONES).sort()).toEqual([t1, t2].sort());
    const sendIdOf = (cid: string): string => cid;
    deleteFromVault(vault, sendIdOf, conversationIdOf(alice.id), [vault.getMessage(t1)!], false);
    expect(vault.kvKeys(TOMBSTONES)).toEqual([t2]);
    deleteFromVault(vault, sendIdOf, conversationIdOf(alice.id), conversationToDelete(vault, conversationIdOf(alice.id)), true);
    expect(vault.kvKeys(TOMBSTONES)).toEqual([]);
  });

  it('a delete that comes first: the message, arriving later, is a tombstone; unless the delete was too late for it', async () => {
    const vault = await scene();
    const s = steps(vault);
    expect(storeInbound(vault, 'alice', del(['early-1', 'early-2'], T + 1000), s)).toMatchObject({ changed: [] });
    const late = storeInbound(vault, 'alice', text('early-1', T, 'words never shown'), s);
    const id1 = incomingMessageId(idKey, alice.id, 'early-1');
    expect(late).toMatchObject({ kind: 'text', isNew: true });
    expect(vault.getMessage(id1)?.text).toBe('');
    expect(isTombstone(vault, id1)).toBe(true);
    // early-2 was sent more than 24 h before that delete: it is stored as it came.
    storeInbound(vault, 'alice', text('early-2', T + 1000 - DELETE_FOR_EVERYONE_WINDOW_MS - 1, 'kept'), s);
    const id2 = incomingMessageId(idKey, alice.id, 'early-2');
    expect(vault.getMessage(id2)?.text).toBe('kept');
    expect(isTombstone(vault, id2)).toBe(false);
    // The remembered delete is used once: a message from another contact with the same content id is not touched.
    storeInbound(vault, 'mallory', text('early-1', T, 'mallory keeps hers'), s);
    expect(vault.getMessage(incomingMessageId(idKey, mallory.id, 'early-1'))?.text).toBe('mallory keeps hers');
    // What is remembered is bounded: ids beyond the cap are not kept (their messages, if they come, are stored).
    const many = Array.from({ length: MAX_DELETED_BEFORE_ARRIVAL + 50 }, (_, i) => `never-${i}`);
    for (let i = 0; i < many.length; i += 100) storeInbound(vault, 'mallory', del(many.slice(i, i + 100), T + 1), s);
    expect(vault.kvKeys(DELETED_BEFORE_ARRIVAL)).toHaveLength(MAX_DELETED_BEFORE_ARRIVAL);
  });
});
