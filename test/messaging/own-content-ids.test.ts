// A text we send keeps its content id in its sealed segment entry, as a received text does, with
// no OUTGOING_CONTENT_IDS kv row of its own (issue 18: one key tag, seal and kv write less per
// send). Every reader takes it from the entry, then from the kv entry older builds (and
// attachments) keep: a reply's quote, delete for everyone, and the deletions, which must still
// take a queued send out of the outbox and withdraw one the relay holds, also from the journal
// after a crash, where only the journal's content ids are left and a received text's must not
// count as ours. Real vault files, no relay (the re-send at unlock: resume.test.ts).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isTombstone, ownContentIdToDelete, TOMBSTONES, tombstoneOwn } from '../../main/messenger/delete-for-everyone.ts';
import { quotedContentId } from '../../main/messenger/conversations.ts';
import { forgetJournaledAtUnlock } from '../../main/messenger/deletion-journal.ts';
import { deleteConversationInSlices, deleteMessagesInSlicesForMe } from '../../main/messenger/deletion-slices.ts';
import { deleteFromVault } from '../../main/messenger/deletion.ts';
import {
  conversationIdOf, newContactId, newContentId, OUTGOING_CONTENT_IDS, outgoingMessageId, PENDING_SENDS, REPLY_TO, textIdempotencyKey, withIdKey,
} from '../../main/messenger/ids.ts';
import { storeInbound } from '../../main/messenger/inbound.ts';
import { ownContentId, queueForRelay, quotableContentId, storeQueued } from '../../main/messenger/outgoing.ts';
import { withdrawId } from '../../main/messenger/withdraw-queue.ts';
import type { ContactRecord, StoredMessage } from '../../main/vault/api.ts';
import { Vault } from '../../main/vault/index.ts';
import { testVaults } from '../vault/helpers.ts';

const vaults = testVaults();
afterEach(() => {
  vi.restoreAllMocks();
  return vaults.cleanup();
});

async function setUp(): Promise<{ vault: Vault; contact: ContactRecord; conv: string }> {
  const { vault } = await vaults.fresh();
  const contact: ContactRecord = { id: newContactId(), handle: 'bob', displayName: 'bob', identityChanged: false, createdAt: Date.now() };
  vault.upsertContact(contact);
  const conv = conversationIdOf(contact.id);
  vault.upsertConversation({ id: conv, kind: 'direct', contactId: contact.id, title: 'bob', lastActivity: 0, unread: 0 });
  return { vault, contact, conv };
}

const sendIdOf = (vault: Vault) => (cid: string): string => withIdKey(vault, (k) => textIdempotencyKey(k, cid));

/** As sending.ts stores a text: the message 'queued', then (online) its pending record and outbox entry. */
function send(vault: Vault, conv: string, text: string, replyToId?: string): { m: StoredMessage; cid: string; idem: string } {
  const cid = newContentId();
  const [id, idem] = withIdKey(vault, (k) => [outgoingMessageId(k, cid), textIdempotencyKey(k, cid)] as const);
  const m = vault.transaction(() => {
    const stored = storeQueued(vault, { id, conversationId: conv, contentId: cid, at: Date.now(), text, replyToId });
    queueForRelay(vault, { to: 'bob', body: Buffer.from(`envelope of ${text}`), idem, contentId: cid, createdAt: Date.now(), ttlSec: undefined });
    return stored;
  });
  return { m, cid, idem };
}

/** A text an older build stored: no content id in its entry, its own OUTGOING_CONTENT_IDS row. */
function sendAsOlderBuild(vault: Vault, conv: string, text: string): { m: StoredMessage; cid: string; idem: string } {
  const cid = newContentId();
  const [id, idem] = withIdKey(vault, (k) => [outgoingMessageId(k, cid), textIdempotencyKey(k, cid)] as const);
  const m = vault.transaction(() => {
    vault.kvSet(OUTGOING_CONTENT_IDS, id, Buffer.from(cid, 'utf8'));
    const [stored] = vault.appendMessages([{ id, conversationId: conv, direction: 'out', sender: 'self', sentAt: Date.now(), receivedAt: Date.now(), text, state: 'queued' }]);
    queueForRelay(vault, { to: 'bob', body: Buffer.from(`envelope of ${text}`), idem, contentId: cid, createdAt: Date.now(), ttlSec: undefined });
    return stored!;
  });
  return { m, cid, idem };
}

function receive(vault: Vault, contact: ContactRecord, text: string): { m: StoredMessage; cid: string } {
  const cid = newContentId();
  const effect = storeInbound(vault, contact.handle, { v: 1, kind: 'text', id: cid, sentAt: Date.now(), text }, {
    contactFor: () => contact,
    withIdKey: (fn) => withIdKey(vault, fn),
    touchConversation: () => undefined,
    setState: (id, state) => {
      vault.updateMessageState(id, state);
      return vault.getMessage(id);
    },
  });
  if (effect.kind !== 'text') throw new Error(`stored as ${effect.kind}`);
  return { m: effect.message, cid };
}

/** What is left of a send: its outbox entry, its pending record, a withdraw queued for it. */
function sendLeft(vault: Vault, idem: string): { entry: boolean; pending: boolean; withdraw: boolean } {
  return { entry: vault.outboxHas(idem), pending: vault.kvGet(PENDING_SENDS, idem) !== undefined, withdraw: vault.outboxHas(withdrawId(idem)) };
}

describe('the content id of a text we send', () => {
  it('rides in its sealed entry: no kv write of its own (one per text before), and a reply and delete for everyone take it from there', async () => {
    const { vault, conv } = await setUp();
    withIdKey(vault, () => undefined); // the id key exists before counting (made on first use)
    const kvSet = vi.spyOn(Vault.prototype, 'kvSet');
    const cid = newContentId();
    const id = withIdKey(vault, (k) => outgoingMessageId(k, cid));
    const stored = storeQueued(vault, { id, conversationId: conv, contentId: cid, at: Date.now(), text: 'hello', replyToId: undefined });
    // A text without a reply writes no kv row at all (the older build: its content id's).
    expect(kvSet.mock.calls.map(([ns]) => ns)).toEqual([]);
    kvSet.mockRestore();
    expect(vault.kvKeys(OUTGOING_CONTENT_IDS)).toEqual([]);
    expect(stored.contentId).toBe(cid);
    expect(vault.getMessage(id)?.contentId).toBe(cid);
    expect(ownContentId(vault, stored)).toBe(cid);
    expect(quotableContentId(vault, id)).toBe(cid);
    expect(ownContentIdToDelete(vault, stored, Date.now())).toBe(cid);

    // A reply to it names that content id.
    const reply = send(vault, conv, 'a reply', id);
    expect(Buffer.from(vault.kvGet(REPLY_TO, reply.m.id)!).toString('utf8')).toBe(id);
    expect(quotedContentId(vault, reply.m.id)).toBe(cid);
  });

  it('a reply is stored without reading anything back (its quote link and the quoted id were known before)', async () => {
    const { vault, conv } = await setUp();
    const quoted = send(vault, conv, 'quoted');
    const reads = [vi.spyOn(Vault.prototype, 'kvGet'), vi.spyOn(Vault.prototype, 'getMessage')];
    const cid = newContentId();
    const id = withIdKey(vault, (k) => outgoingMessageId(k, cid));
    storeQueued(vault, { id, conversationId: conv, contentId: cid, at: Date.now(), text: 'a reply', replyToId: quoted.m.id });
    // The older code read its quote link back, then the quoted text's content id (kv, then its entry).
    expect(reads.map((r) => r.mock.calls.length)).toEqual([0, 0]);
    for (const r of reads) r.mockRestore();
    expect(Buffer.from(vault.kvGet(REPLY_TO, id)!).toString('utf8')).toBe(quoted.m.id);
    expect(quotedContentId(vault, id)).toBe(quoted.cid);
  });

  it('a text an older build stored (kv entry, none in its sealed entry) is quoted and deleted for everyone the same', async () => {
    const { vault, conv } = await setUp();
    const old = sendAsOlderBuild(vault, conv, 'older');
    expect(old.m.contentId).toBeUndefined();
    expect(ownContentId(vault, old.m)).toBe(old.cid);
    expect(quotableContentId(vault, old.m.id)).toBe(old.cid);
    expect(ownContentIdToDelete(vault, old.m, Date.now())).toBe(old.cid);
    tombstoneOwn(vault, old.m, old.idem);
    expect(vault.kvKeys(OUTGOING_CONTENT_IDS)).toEqual([]);
    expect(sendLeft(vault, old.idem)).toEqual({ entry: false, pending: false, withdraw: false });
    const tomb = vault.getMessage(old.m.id)!;
    expect(ownContentId(vault, tomb)).toBeUndefined();
    expect(() => ownContentIdToDelete(vault, tomb, Date.now())).toThrow(expect.objectContaining({ code: 'NOT_AVAILABLE' }));
  });

  it('delete for everyone of a queued text: out of the outbox, marked at once, and its content id gone from its entry', async () => {
    const { vault, conv } = await setUp();
    const t = send(vault, conv, 'regret');
    tombstoneOwn(vault, t.m, t.idem);
    expect(sendLeft(vault, t.idem)).toEqual({ entry: false, pending: false, withdraw: false });
    expect(vault.kvGet(TOMBSTONES, t.m.id)).toBeDefined();
    const tomb = vault.getMessage(t.m.id)!;
    expect(tomb.text).toBe('');
    expect(tomb.contentId).toBeUndefined();
    // Nothing to re-send at unlock (resumeQueued asks ownContentId), nothing to quote or delete again.
    expect(ownContentId(vault, tomb)).toBeUndefined();
    expect(quotableContentId(vault, t.m.id)).toBeUndefined();
  });

  it('delete for everyone cut right after the send left the outbox (a crash): the queued text keeps its content id but is marked, so the resume skips it', async () => {
    const { vault, conv } = await setUp();
    const t = send(vault, conv, 'regret');
    // Cut right after the transaction that takes the send out of the outbox (the next one throws).
    const transaction = vault.transaction.bind(vault);
    let calls = 0;
    vi.spyOn(vault, 'transaction').mockImplementation(((fn: () => unknown) => {
      if (++calls === 2) throw new Error('power cut');
      return transaction(fn);
    }) as never);
    expect(() => tombstoneOwn(vault, t.m, t.idem)).toThrow('power cut');
    const m = vault.getMessage(t.m.id)!;
    expect([m.state, ownContentId(vault, m)]).toEqual(['queued', t.cid]);
    // What resumeQueued asks of a queued text of ours not in the outbox.
    expect(sendLeft(vault, t.idem).entry).toBe(false);
    expect(isTombstone(vault, t.m.id)).toBe(true);
  });

  it('delete for me: a queued text leaves the outbox, a sent one gets a withdraw; a received text is no send of ours', async () => {
    const { vault, contact, conv } = await setUp();
    const queued = send(vault, conv, 'queued');
    const sent = send(vault, conv, 'sent');
    // The relay accepted it: its pending record and outbox entry went with the answer.
    vault.transaction(() => {
      vault.outboxDelete(sent.idem);
      vault.kvDelete(PENDING_SENDS, sent.idem);
    });
    vault.updateMessageState(sent.m.id, 'sent');
    const older = sendAsOlderBuild(vault, conv, 'older');
    const theirs = receive(vault, contact, 'theirs');
    const messages = [queued.m.id, sent.m.id, older.m.id, theirs.m.id].map((id) => vault.getMessage(id)!);
    deleteFromVault(vault, sendIdOf(vault), conv, messages, false);
    expect(vault.getMessage(queued.m.id)).toBeUndefined();
    expect(sendLeft(vault, queued.idem)).toEqual({ entry: false, pending: false, withdraw: true });
    expect(sendLeft(vault, sent.idem)).toEqual({ entry: false, pending: false, withdraw: true });
    expect(sendLeft(vault, older.idem)).toEqual({ entry: false, pending: false, withdraw: true });
    expect(sendLeft(vault, sendIdOf(vault)(theirs.cid))).toEqual({ entry: false, pending: false, withdraw: false });
    expect(vault.kvKeys(OUTGOING_CONTENT_IDS)).toEqual([]);
    expect(vault.kvKeys(PENDING_SENDS)).toEqual([]);
  });

  it("a sliced deletion takes a queued text out of the outbox in the slice's own commit, before the journal's steps", async () => {
    const { vault, contact, conv } = await setUp();
    // What the vault's part (the slices) left, before the messenger's journal steps run.
    const afterSlices: Record<string, ReturnType<typeof sendLeft>> = {};
    const watch = (method: 'deleteConversationInSlices' | 'deleteMessagesInSlices', idem: () => string): void => {
      const original = vault[method].bind(vault) as (...a: unknown[]) => Promise<unknown>;
      vi.spyOn(vault, method).mockImplementation((async (...a: unknown[]) => {
        const report = await original(...a);
        afterSlices[method] = sendLeft(vault, idem());
        return report;
      }) as never);
    };
    const queued = send(vault, conv, 'queued');
    receive(vault, contact, 'theirs');
    watch('deleteConversationInSlices', () => queued.idem);
    await deleteConversationInSlices(vault, sendIdOf(vault), conv);
    expect(afterSlices.deleteConversationInSlices).toEqual({ entry: false, pending: false, withdraw: true });

    vault.upsertConversation({ id: conv, kind: 'direct', contactId: contact.id, title: 'bob', lastActivity: 0, unread: 0 });
    const expiring = send(vault, conv, 'expiring');
    watch('deleteMessagesInSlices', () => expiring.idem);
    await deleteMessagesInSlicesForMe(vault, sendIdOf(vault), conv, [vault.getMessage(expiring.m.id)!]);
    expect(afterSlices.deleteMessagesInSlices).toEqual({ entry: false, pending: false, withdraw: true });
  });

  it('sliced deletions (conversation, expiry) settle our texts; a received text is no send of ours', async () => {
    const { vault, contact, conv } = await setUp();
    const queued = send(vault, conv, 'queued');
    const older = sendAsOlderBuild(vault, conv, 'older');
    const theirs = receive(vault, contact, 'theirs');
    await deleteConversationInSlices(vault, sendIdOf(vault), conv);
    for (const t of [queued, older]) expect(sendLeft(vault, t.idem)).toEqual({ entry: false, pending: false, withdraw: true });
    expect(sendLeft(vault, sendIdOf(vault)(theirs.cid))).toEqual({ entry: false, pending: false, withdraw: false });
    expect(vault.kvKeys(OUTGOING_CONTENT_IDS)).toEqual([]);
    expect(vault.kvKeys(PENDING_SENDS)).toEqual([]);

    // Expiry's path: some messages of a conversation, in slices.
    vault.upsertConversation({ id: conv, kind: 'direct', contactId: contact.id, title: 'bob', lastActivity: 0, unread: 0 });
    const expiring = send(vault, conv, 'expiring');
    const kept = send(vault, conv, 'kept');
    await deleteMessagesInSlicesForMe(vault, sendIdOf(vault), conv, [vault.getMessage(expiring.m.id)!]);
    expect(sendLeft(vault, expiring.idem)).toEqual({ entry: false, pending: false, withdraw: true });
    expect(sendLeft(vault, kept.idem)).toEqual({ entry: true, pending: true, withdraw: false });
    expect(vault.getMessage(kept.m.id)?.contentId).toBe(kept.cid);
  });

  it('after a crash between the slices and the journal: the journal alone settles our queued text (its content id), not a received one', async () => {
    const { vault, contact, conv } = await setUp();
    const queued = send(vault, conv, 'queued');
    const theirs = receive(vault, contact, 'theirs');
    // The vault's part only, as a crash leaves it: rows gone, the journal written, nothing forgotten.
    await vault.deleteConversationInSlices(conv, { journal: true });
    expect(vault.getMessage(queued.m.id)).toBeUndefined();
    expect(sendLeft(vault, queued.idem)).toEqual({ entry: true, pending: true, withdraw: false });
    // The next unlock's step, with the account's id key.
    await forgetJournaledAtUnlock(vault);
    expect(sendLeft(vault, queued.idem)).toEqual({ entry: false, pending: false, withdraw: true });
    expect(sendLeft(vault, sendIdOf(vault)(theirs.cid))).toEqual({ entry: false, pending: false, withdraw: false });
    expect(vault.kvKeys(PENDING_SENDS)).toEqual([]);
  });
});
