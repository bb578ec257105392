// The vault's state as the UI sees it (shared/api.ts).
import { z } from 'zod';
import { Handle } from './scalars.ts';

export const VaultState = z.enum(['none', 'locked', 'unlocked']);

export const Account = z.strictObject({
  handle: Handle,
  relayUrl: z.string().max(2048),
});

export const VaultStatus = z.strictObject({
  /** none: no vault in the profile yet; locked: exists, keys not in memory. */
  vault: VaultState,
  /** False until the user has typed the recovery phrase back once (confirmRecoveryPhrase). */
  recoveryConfirmed: z.boolean(),
  /** Known only while unlocked; null before registration. */
  account: Account.nullable(),
});

export type VaultState = z.infer<typeof VaultState>;
export type Account = z.infer<typeof Account>;
export type VaultStatus = z.infer<typeof VaultStatus>;
