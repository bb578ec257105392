// Contacts and their safety numbers (shared/api.ts).
import { z } from 'zod';
import { Handle, Id, Timestamp } from './scalars.ts';

/** A local name for a contact, never sent anywhere; empty clears it (the handle is shown). */
export const MAX_NICKNAME_CHARS = 64;
export const Nickname = z.string().max(MAX_NICKNAME_CHARS);

export const Contact = z.strictObject({
  id: Id,
  handle: Handle,
  displayName: z.string().max(256),
  conversationId: Id,
  verified: z.boolean(),
  /** The contact's identity key changed and the user has not accepted it: sending is held. */
  identityChanged: z.boolean(),
  createdAt: Timestamp,
});

export const SafetyNumber = z.strictObject({
  contactId: Id,
  handle: Handle,
  /** 60 decimal digits, shown in 12 groups of 5 (libsignal Fingerprint displayable form). */
  digits: z.string().regex(/^\d{60}$/),
  verified: z.boolean(),
  identityChanged: z.boolean(),
});

export type Contact = z.infer<typeof Contact>;
export type SafetyNumber = z.infer<typeof SafetyNumber>;
