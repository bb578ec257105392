// Contacts and trust as the API shows them: the contact view, identity keys kept equal to the
// ones the identity store trusts, and safety numbers. Events stay with the caller.
import { ApiError, type Contact, type SafetyNumber } from '../../shared/api.ts';
import type { E2e } from '../e2e/index.ts';
import type { ContactRecord } from '../vault/api.ts';
import type { Vault } from '../vault/index.ts';
import { isVerified } from '../vault/records.ts';
import { conversationIdOf } from './ids.ts';

export function contactView(c: ContactRecord): Contact {
  return {
    id: c.id,
    handle: c.handle,
    displayName: c.displayName.slice(0, 256),
    conversationId: conversationIdOf(c.id),
    verified: isVerified(c),
    identityChanged: c.identityChanged,
    createdAt: c.createdAt,
  };
}

export function contactById(vault: Vault, contactId: string): ContactRecord {
  const contact = vault.getContact(contactId);
  if (!contact) throw new ApiError('UNKNOWN_CONTACT', 'There is no such contact.');
  return contact;
}

/**
 * Every contact's identityKey := the key the identity store trusts for its handle, where they
 * differ (e.g. a contact imported from a backup with another key): a verified mark for any
 * other key then reads as unverified, everywhere the contact is shown.
 */
export function reconcileIdentityKeys(vault: Vault, e2e: E2e): void {
  for (const contact of vault.listContacts()) {
    let trusted: Uint8Array | undefined;
    try {
      trusted = e2e.identityStatus(contact.handle).trusted;
    } catch {
      continue; // not a valid address (e.g. an imported handle): no session can exist with it
    }
    if (trusted && !(contact.identityKey && Buffer.compare(contact.identityKey, trusted) === 0)) {
      vault.upsertContact({ ...contact, identityKey: new Uint8Array(trusted) });
    }
  }
}

/** The safety number to compare: the pending key's while a change waits, else the trusted one's. */
export function safetyNumberOf(e2e: E2e, contact: ContactRecord): SafetyNumber {
  const status = e2e.identityStatus(contact.handle);
  const digits = e2e.safetyNumberWith(contact.handle, status.pending ? 'pending' : 'trusted');
  if (!digits) throw new ApiError('NOT_AVAILABLE', `No identity key of ${contact.handle} is known yet.`);
  // Verified only for the key whose number this is (the trusted one), with no change pending.
  const verified = isVerified(contact) && status.pending === undefined && status.trusted !== undefined && Buffer.compare(status.trusted, contact.verifiedKey!) === 0;
  return { contactId: contact.id, handle: contact.handle, digits, verified, identityChanged: contact.identityChanged || status.pending !== undefined };
}
