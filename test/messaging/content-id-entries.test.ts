// A received text keeps its content id in its sealed segment entry, with no kv entry of its own
// (issue 18: no key tag, seal and kv row per caught-up message), and reading it still yields the
// content id its read receipt or a reply names; texts stored by older builds (a quotable kv entry,
// or that and the receipt's own) are read-receipted the same way; a deleted one's kept receipt goes.
import { afterEach, describe, expect, it } from 'vitest';
import { forgetJournaled, forgetRecords } from '../../main/messenger/deletion-journal.ts';
import { conversationIdOf, INCOMING_CONTENT_IDS, newContactId, QUOTABLE_CONTENT_IDS, withIdKey } from '../../main/messenger/ids.ts';
import { storeInbound } from '../../main/messenger/inbound.ts';
import { quotableContentId } from '../../main/messenger/outgoing.ts';
import { keepReceiptIds, keptReceiptIds } from '../../main/messenger/receipt-batch.ts';
import { KEPT_RECEIPTS, markReadUpTo } from '../../main/messenger/receipts.ts';
import type { ContactRecord } from '../../main/vault/api.ts';
import type { Vault } from '../../main/vault/index.ts';
import { testVaults } from '../vault/helpers.ts';

const vaults = testVaults();
afterEach(() => vaults.cleanup());

function setUp(vault: Vault): ContactRecord {
  const contact: ContactRecord = { id: newContactId(), handle: 'alice', displayName: 'alice', identityChanged: false, createdAt: Date.now() };
  vault.upsertContact(contact);
  vault.upsertConversation({ id: conversationIdOf(contact.id), kind: 'direct', contactId: contact.id, title: 'alice', lastActivity: 0, unread: 0 });
  return contact;
}

function receive(vault: Vault, contact: ContactRecord, contentId: string): string {
  const effect = storeInbound(vault, contact.handle, { v: 1, kind: 'text', id: contentId, sentAt: Date.now(), text: `text ${contentId}` }, {
    contactFor: () => contact,
    withIdKey: (fn) => withIdKey(vault, fn),
    touchConversation: () => undefined,
    setState: (id, state) => {
      vault.updateMessageState(id, state);
      return vault.getMessage(id);
    },
  });
  if (effect.kind !== 'text') throw new Error(`stored as ${effect.kind}`);
  return effect.message.id;
}

const setRead = (vault: Vault) => (id: string): boolean => {
  if (vault.getMessage(id)?.state !== 'received') return false;
  vault.updateMessageState(id, 'read');
  return true;
};

describe('content ids of received texts', () => {
  it('no content-id kv entry per text: the id rides in the sealed entry, and the read receipt and a reply take it from there', async () => {
    const { vault } = await vaults.fresh();
    const contact = setUp(vault);
    const first = receive(vault, contact, 'a'.repeat(32));
    const second = receive(vault, contact, 'b'.repeat(32));
    expect(vault.kvKeys(INCOMING_CONTENT_IDS)).toEqual([]);
    expect(vault.kvKeys(QUOTABLE_CONTENT_IDS)).toEqual([]);
    expect(vault.getMessage(first)?.contentId).toBe('a'.repeat(32));
    expect(quotableContentId(vault, first)).toBe('a'.repeat(32));

    const { newlyRead } = markReadUpTo(vault, conversationIdOf(contact.id), second, setRead(vault));
    expect(newlyRead).toEqual(['a'.repeat(32), 'b'.repeat(32)]);
    // Still quotable after it was read; read again, nothing new to receipt.
    expect(quotableContentId(vault, second)).toBe('b'.repeat(32));
    expect(markReadUpTo(vault, conversationIdOf(contact.id), second, setRead(vault)).newlyRead).toEqual([]);
  });

  it('a text an older build stored (its content id in a kv entry, none in its sealed entry) is read-receipted and quoted the same', async () => {
    const { vault } = await vaults.fresh();
    const contact = setUp(vault);
    const conv = conversationIdOf(contact.id);
    const [old] = vault.appendMessages([{ id: 'm-older-build', conversationId: conv, direction: 'in', sender: contact.id, sentAt: 1, text: 'older', state: 'received' }]);
    vault.kvSet(QUOTABLE_CONTENT_IDS, old!.id, Buffer.from('d'.repeat(32), 'utf8'));
    expect(old!.contentId).toBeUndefined();
    expect(quotableContentId(vault, old!.id)).toBe('d'.repeat(32));
    expect(markReadUpTo(vault, conv, old!.id, setRead(vault)).newlyRead).toEqual(['d'.repeat(32)]);
  });

  it('a content id kept in the sealed entry: a kept read receipt naming it goes with the text, sliced (journal) or not', async () => {
    const { vault } = await vaults.fresh();
    const contact = setUp(vault);
    const conv = conversationIdOf(contact.id);
    const texts = Array.from({ length: 130 }, (_, i) => ({ id: `m${i.toString().padStart(4, '0')}`, cid: `cid${i}` }));
    vault.appendMessages(texts.map((t) => ({ id: t.id, conversationId: conv, direction: 'in' as const, sender: contact.id, sentAt: 1, text: 'read', state: 'read' as const, contentId: t.cid })));
    keepReceiptIds(vault, KEPT_RECEIPTS, 'read\nalice', texts.map((t) => t.cid));
    // Not sliced: the row is still there when its records go (deletion.ts forgetMessages).
    forgetRecords(vault, texts[0]!.id);
    vault.deleteMessages(conv, [texts[0]!.id]);
    expect(keptReceiptIds(vault, KEPT_RECEIPTS, 'read\nalice')).not.toContain('cid0');
    // Sliced: the rows are gone when the journal is worked through; the journal carries the ids.
    const report = await vault.deleteConversationInSlices(conv, { journal: true, sliceMs: 0.001 });
    expect(report.slices).toBeGreaterThan(1);
    expect(vault.countMessages(conv)).toBe(0);
    await forgetJournaled(vault, (cid) => `send-${cid}`, 1, report.journalKeys);
    expect(vault.kvKeys(KEPT_RECEIPTS)).toEqual([]);
  });

  it('a text stored with the older receipt entry as well: receipted once, that entry dropped', async () => {
    const { vault } = await vaults.fresh();
    const contact = setUp(vault);
    const id = receive(vault, contact, 'c'.repeat(32));
    vault.kvSet(INCOMING_CONTENT_IDS, id, Buffer.from('c'.repeat(32), 'utf8'));

    expect(markReadUpTo(vault, conversationIdOf(contact.id), id, setRead(vault)).newlyRead).toEqual(['c'.repeat(32)]);
    expect(vault.kvKeys(INCOMING_CONTENT_IDS)).toEqual([]);
    expect(vault.getMessage(id)?.contentId).toBe('c'.repeat(32));
  });
});
