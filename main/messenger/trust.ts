/**
 * Contacts and trust, with their events: adding a contact (a session from the relay's bundle),
 * identity changes, verification, accepting a new safety number, nicknames. A changed identity
 * key is surfaced (identityChanged), never silently accepted.
 */
import { ApiError, MAX_NICKNAME_CHARS, type Contact, type SafetyNumber } from '../../shared/api.ts';
import { E2eError, UntrustedIdentity, type E2e } from '../e2e/index.ts';
import type { ContactRecord } from '../vault/api.ts';
import type { RelayConnection } from './connection.ts';
import { contactById, contactView, safetyNumberOf } from './contacts.ts';
import { safetyNumberChanged } from './errors.ts';
import type { Emit } from './events.ts';
import { conversationIdOf, newContactId } from './ids.ts';
import type { SessionAccess } from './session.ts';

export interface TrustDeps {
  access: SessionAccess;
  emit: Emit;
  /** Emits a conversation's summary (counters.ts). */
  announce(conversationId: string): void;
  /** The registered connection once ready (account.ts). */
  readyConnection(): Promise<RelayConnection>;
  /** Stores and announces what e2e held for the handle while its new key waited (inbound.ts). */
  releaseHeld(e2e: E2e, handle: string): Promise<void>;
}

/** Why a nickname is refused, checked also for callers that skip the boundary's schema (the CLI). */
export function nicknameProblem(raw: string): ApiError | undefined {
  const nickname = raw.trim();
  if (/\p{Cc}/u.test(nickname)) return new ApiError('INVALID_ARGUMENT', 'A nickname cannot contain control characters.');
  if (nickname.length > MAX_NICKNAME_CHARS) return new ApiError('INVALID_ARGUMENT', `A nickname may have at most ${MAX_NICKNAME_CHARS} characters.`);
  return undefined;
}

export class Trust {
  constructor(private readonly deps: TrustDeps) {}

  private get access(): SessionAccess {
    return this.deps.access;
  }

  /** The contact and its conversation changed: both are announced. */
  private announce(contact: ContactRecord): void {
    this.deps.emit('contact', contactView(contact));
    this.deps.announce(conversationIdOf(contact.id));
  }

  async add(handle: string): Promise<Contact> {
    const { e2e, account } = this.access.registration();
    if (handle === account.handle) throw new ApiError('INVALID_ARGUMENT', 'That is your own handle.');
    const existing = this.access.require().vault.findContactByHandle(handle);
    if (existing && (await e2e.hasSession(handle))) return contactView(existing);
    const bundle = await this.fetchBundle(handle);
    return this.access.activity(async () => {
      await this.startSessionWith(handle, bundle);
      const contact = this.access.require().vault.findContactByHandle(handle) ?? this.createContact(handle);
      return contactView(this.refreshIdentityKey(contact));
    });
  }

  /** Fetches the contact's bundle and starts a session (the PreKey path of the next message). */
  async fetchSession(handle: string): Promise<void> {
    const bundle = await this.fetchBundle(handle);
    await this.access.activity(() => this.startSessionWith(handle, bundle));
  }

  /** The relay round trip of fetchSession: outside any vault activity (it may wait on the network). */
  private async fetchBundle(handle: string): Promise<Uint8Array> {
    const conn = await this.deps.readyConnection();
    try {
      return await conn.keys.fetch(handle);
    } catch (e) {
      if ((e as { code?: unknown }).code === 'NOT_FOUND' || (e as { code?: unknown }).code === 'BAD_REQUEST') {
        throw new ApiError('UNKNOWN_HANDLE', `No one is registered as ${handle} on this relay.`);
      }
      throw e;
    }
  }

  /** The local half of fetchSession (run it inside an activity: it writes session and contact). */
  private async startSessionWith(handle: string, bundle: Uint8Array): Promise<void> {
    const e2e = this.access.registration().e2e;
    try {
      await e2e.startSession(handle, bundle);
    } catch (e) {
      if (e instanceof UntrustedIdentity) {
        const contact = this.access.require().vault.findContactByHandle(handle);
        if (contact) this.markIdentityChanged(contact);
      }
      throw e;
    }
  }

  createContact(handle: string): ContactRecord {
    const vault = this.access.require().vault;
    const now = Date.now();
    const contact: ContactRecord = { id: newContactId(), handle, displayName: handle, identityChanged: false, createdAt: now };
    vault.upsertContact(contact);
    vault.upsertConversation({ id: conversationIdOf(contact.id), kind: 'direct', contactId: contact.id, title: handle, lastActivity: now, unread: 0 });
    this.announce(contact);
    return contact;
  }

  /** Keeps the record's key the trusted one, so a verified mark for another key reads as unverified. */
  refreshIdentityKey(contact: ContactRecord): ContactRecord {
    const trusted = this.access.current()?.registration?.e2e.identityStatus(contact.handle).trusted;
    if (!trusted || (contact.identityKey && Buffer.compare(contact.identityKey, trusted) === 0)) return contact;
    const updated = { ...contact, identityKey: new Uint8Array(trusted) };
    this.access.require().vault.upsertContact(updated);
    return updated;
  }

  markIdentityChanged(contact: ContactRecord): void {
    const vault = this.access.require().vault;
    const current = vault.getContact(contact.id) ?? contact;
    if (current.identityChanged) return;
    const updated = { ...current, identityChanged: true };
    vault.upsertContact(updated);
    this.announce(updated);
  }

  safetyNumber(contactId: string): SafetyNumber {
    const { e2e } = this.access.registration();
    return safetyNumberOf(e2e, contactById(this.access.require().vault, contactId));
  }

  markVerified(contactId: string, verified: boolean): Promise<Contact> {
    // Vault activities (also markRead): during an import's merge they wait rather than fail.
    return this.access.activity(async () => {
      const vault = this.access.require().vault;
      const contact = contactById(vault, contactId);
      const { verifiedKey: _previous, ...unverified } = contact;
      let updated: ContactRecord = unverified;
      if (verified) {
        const status = this.access.registration().e2e.identityStatus(contact.handle);
        // A pending key may not be flagged on the contact yet (seen by e2e, event not handled).
        if (contact.identityChanged || status.pending) {
          throw new ApiError('IDENTITY_CHANGED', `The identity of ${contact.handle} changed: accept the new safety number first.`);
        }
        if (!status.trusted) throw new ApiError('NOT_AVAILABLE', `No identity key of ${contact.handle} is known yet: there is no safety number to compare.`);
        // The mark names the key whose safety number is shown (the trusted one), and only it.
        updated = { ...unverified, identityKey: new Uint8Array(status.trusted), verifiedKey: new Uint8Array(status.trusted) };
      }
      vault.upsertContact(updated);
      this.announce(updated);
      return contactView(updated);
    });
  }

  acceptIdentity(contactId: string, safetyNumber: string): Promise<Contact> {
    // One vault activity: accepting in e2e and clearing the contact's flag must not be split by
    // a backup import's merge (the flag would stay set with nothing left to accept).
    return this.access.activity(async () => {
      const { e2e } = this.access.registration();
      const vault = this.access.require().vault;
      const contact = contactById(vault, contactId);
      if (!/^\d{60}$/.test(safetyNumber)) throw new ApiError('INVALID_ARGUMENT', 'The safety number must be the 60 digits that were shown.');
      // The pending key and its safety number are read in the same synchronous step, so `digits`
      // belongs to exactly `pending`; e2e.acceptIdentity then accepts only that key.
      const pending = e2e.identityStatus(contact.handle).pending;
      if (!pending) throw new ApiError('INVALID_ARGUMENT', `There is no identity change of ${contact.handle} to accept.`);
      const digits = e2e.safetyNumberWith(contact.handle, 'pending');
      if (digits !== safetyNumber) throw safetyNumberChanged(contact.handle);
      let accepted: Uint8Array;
      try {
        accepted = await e2e.acceptIdentity(contact.handle, pending);
      } catch (e) {
        // Another key replaced (or a concurrent accept took) the one whose number was shown.
        if (e instanceof E2eError && e.code === 'NO_PENDING_IDENTITY') throw safetyNumberChanged(contact.handle);
        throw e;
      }
      // The verified mark named the old key; the new one is unverified until compared.
      const { verifiedKey: _old, ...rest } = contact;
      const updated: ContactRecord = { ...rest, identityKey: new Uint8Array(accepted), identityChanged: false };
      this.access.require().vault.upsertContact(updated);
      await this.deps.releaseHeld(e2e, contact.handle);
      // A held envelope from yet another key (an earlier change superseded before it was
      // accepted) makes that key pending again: the contact says so, it is not silently trusted.
      if (e2e.identityStatus(contact.handle).pending) {
        this.markIdentityChanged(updated);
        return contactView(contactById(this.access.require().vault, contact.id));
      }
      this.announce(updated);
      return contactView(updated);
    });
  }

  /** A local nickname (checked by nicknameProblem): the contact's display name and the conversation's title; '' goes back to the handle. */
  setNickname(contactId: string, rawNickname: string): Promise<Contact> {
    const nickname = rawNickname.trim();
    return this.access.activity(async () => {
      const vault = this.access.require().vault;
      const contact = contactById(vault, contactId);
      const name = nickname === '' ? contact.handle : nickname;
      const updated: ContactRecord = { ...contact, displayName: name };
      vault.upsertContact(updated);
      const conv = vault.getConversation(conversationIdOf(contact.id));
      if (conv) vault.upsertConversation({ ...conv, title: name });
      const view = contactView(updated);
      this.deps.emit('contact', view);
      this.deps.announce(conversationIdOf(contact.id));
      return view;
    });
  }
}
