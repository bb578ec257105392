// What can be said about a vault for a diagnosis (shared/api.ts vaultInfo and vaultCheck; the
// CLI's status and unlock-check): read without opening the messenger's session, so they answer
// for a vault whose messages are damaged too.
import { z } from 'zod';
import { Count, Id } from './scalars.ts';

/** From the header and the lock file only (no password). */
export const VaultInfo = z.strictObject({
  exists: z.boolean(),
  format: Count.optional(),
  /** The Argon2id parameters the password is stretched with. */
  kdf: z.strictObject({ memoryKiB: Count, iterations: Count, parallelism: Count }).optional(),
  /** Process id of the live process that has the profile open, if any (this one too). */
  lockedBy: z.number().int().positive().optional(),
});

/** The password opened the vault; what it holds, and which parts of it did not open. */
export const VaultCheck = z.strictObject({
  /** Stored messages (counted, not decrypted). */
  messages: Count,
  /** null: the records do not open (a failed tag or an edited column). */
  conversations: Count.nullable(),
  contacts: Count.nullable(),
  /** Conversations with a message segment that does not open: every other conversation reads. */
  damagedConversations: z.array(Id).max(100_000),
});

export type VaultInfo = z.infer<typeof VaultInfo>;
export type VaultCheck = z.infer<typeof VaultCheck>;
