/**
 * What the relay hands over: decrypt, commit to the vault (inbound.ts stores; group content goes
 * to groups.ts), and only then return, so the mailbox acknowledges only what is durable; then
 * announce it (events, delivered receipt, search catch-up, attachment fetch).
 */
import type { Message } from '../../shared/api.ts';
import { E2eError, UntrustedIdentity, type E2e, type MessageContent } from '../e2e/index.ts';
import type { Envelope as RelayEnvelope } from '../net/mailbox.ts';
import type { ContactRecord, MessageState, StoredMessage } from '../vault/api.ts';
import { autoDownload } from './attachments.ts';
import type { Emit } from './events.ts';
import { isGroupContent, isSenderKeyEnvelope, type GroupService } from './groups.ts';
import { withIdKey } from './ids.ts';
import { storeInbound, type InboundEffect } from './inbound.ts';
import type { ReceiptSender } from './receipts.ts';
import type { SessionAccess } from './session.ts';
import type { Trust } from './trust.ts';

export interface ReceivingDeps {
  access: SessionAccess;
  emit: Emit;
  trust: Pick<Trust, 'createContact' | 'markIdentityChanged' | 'refreshIdentityKey'>;
  groups: Pick<GroupService, 'receiveEnvelope' | 'storeInbound'>;
  receipts: Pick<ReceiptSender, 'queueDelivered'>;
  touchConversation(conversationId: string, at: number, unreadDelta: number): void;
  setState(messageId: string, state: MessageState, known?: StoredMessage): StoredMessage | undefined;
  /** The message as the UI sees it. */
  viewOf(m: StoredMessage): Message;
  /** Announces messages a delete for everyone turned into tombstones. */
  afterTombstones(conversationId: string, changed: readonly StoredMessage[]): void;
  scheduleSearchCatchUp(): void;
  /** A member's receipts for own group texts were stored (messenger/group-receipts.ts). */
  groupReceiptStored?(groupId: string): void;
}

export class Receiver {
  /** When the last envelope arrived (sync waits for a quiet inbox). */
  lastAt = 0;

  /**
   * Per E2e (weakly: a locked session's must not be kept alive), per contact id, the identity
   * generation (E2e.identityGeneration) and the key its record held when last checked against
   * the trusted key: while both are unchanged the check (a sealed identity read per message)
   * would find the same, so it is skipped.
   */
  private readonly checkedKeys = new WeakMap<E2e, Map<string, { generation: number; key: Uint8Array }>>();

  constructor(private readonly deps: ReceivingDeps) {}

  /** Decrypt, commit to the vault, and only then return (the mailbox acknowledges after this). */
  onEnvelope(env: RelayEnvelope): Promise<void> {
    // One vault activity: a backup import's merge waits for it, and it waits for the merge (the
    // mailbox hands over nothing else meanwhile), instead of failing with BUSY and leaving the
    // envelope at the relay until the next connection.
    return this.deps.access.activity(() => this.receive(env));
  }

  private async receive(env: RelayEnvelope): Promise<void> {
    const session = this.deps.access.current();
    const e2e = session?.registration?.e2e;
    if (!e2e || !session.vault.isUnlocked) throw new Error('locked: not acknowledged');
    this.lastAt = Date.now();
    if (isSenderKeyEnvelope(env.body)) {
      await this.deps.groups.receiveEnvelope(env);
      return;
    }
    let effect: InboundEffect;
    try {
      effect = await e2e.receiveContent<InboundEffect>(env.from, env.body, (content) =>
        isGroupContent(content) ? this.deps.groups.storeInbound(env.from, content) : this.store(env.from, content),
      );
    } catch (e) {
      if (e instanceof UntrustedIdentity) {
        // Held sealed by e2e until the user accepts the new safety number: acknowledge.
        const contact = this.deps.access.require().vault.findContactByHandle(env.from) ?? this.deps.trust.createContact(env.from);
        this.deps.trust.markIdentityChanged(contact);
        return;
      }
      // Duplicates are already stored; malformed, forged or undecodable envelopes can never
      // succeed: acknowledge them. Vault errors (locked, corrupt) are not: the relay keeps them.
      if (e instanceof E2eError) return;
      throw e;
    }
    this.after(effect);
  }

  private refreshIdentityKey(contact: ContactRecord): void {
    const e2e = this.deps.access.current()?.registration?.e2e;
    let checked = e2e ? this.checkedKeys.get(e2e) : undefined;
    if (e2e && !checked) this.checkedKeys.set(e2e, (checked = new Map()));
    const seen = checked?.get(contact.id);
    const generation = e2e?.identityGeneration;
    if (seen && generation === seen.generation && contact.identityKey && Buffer.compare(contact.identityKey, seen.key) === 0) return;
    const refreshed = this.deps.trust.refreshIdentityKey(contact);
    if (generation !== undefined && refreshed.identityKey) checked?.set(contact.id, { generation, key: refreshed.identityKey.slice() });
  }

  /** Stores and announces what e2e held for the handle while its new key waited (trust.ts accept). */
  async releaseHeld(e2e: E2e, handle: string): Promise<void> {
    const results = await e2e.releaseHeldContent(handle, (content) => this.store(handle, content));
    for (const r of results) if (r.ok && r.value) this.after(r.value);
  }

  /** Runs inside e2e.receive: vault writes only (must not call back into e2e; messenger/inbound.ts). */
  private store(from: string, content: MessageContent): InboundEffect {
    const vault = this.deps.access.require().vault;
    return storeInbound(vault, from, content, {
      contactFor: (handle) => vault.findContactByHandle(handle) ?? this.deps.trust.createContact(handle),
      withIdKey: (fn) => this.withIdKey(fn),
      touchConversation: (conversationId, at, unreadDelta) => this.deps.touchConversation(conversationId, at, unreadDelta),
      setState: (messageId, state, known) => this.deps.setState(messageId, state, known),
    });
  }

  private withIdKey<T>(fn: (idKey: Uint8Array) => T): T {
    return withIdKey(this.deps.access.require().vault, fn);
  }

  private after(effect: InboundEffect): void {
    const { deps } = this;
    if (effect.kind === 'text') {
      // Keeps the record's key the trusted one, so a verified mark for another key reads as unverified.
      this.refreshIdentityKey(effect.contact);
      if (effect.isNew) {
        const view = effect.view ?? deps.viewOf(effect.message);
        // A message whose delete came first arrives as a tombstone: shown, never notified.
        if (view.deleted) deps.emit('deletedForEveryone', { conversationId: view.conversationId, messages: [view] });
        else deps.emit('message', view);
        deps.scheduleSearchCatchUp();
      }
      deps.receipts.queueDelivered(effect.contact.handle, effect.contentId);
      // A small attachment is fetched at once (main/messenger/attachments.ts); a larger one on save.
      const session = deps.access.current();
      if (effect.isNew && effect.attachment) autoDownload(session?.vault, session?.connection?.calls, effect.message.id);
    } else if (effect.kind === 'deletedForEveryone') {
      if (effect.changed.length > 0) deps.afterTombstones(effect.conversationId, effect.changed);
    } else if (effect.kind === 'groupReceipt') {
      deps.groupReceiptStored?.(effect.groupId);
    } else if (effect.kind === 'receipt' && effect.changed.length > 0) {
      deps.touchConversation(effect.changed[0]!.conversationId, 0, 0);
    }
  }
}
