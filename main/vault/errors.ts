// Typed vault errors. Each carries a stable `code` so the CLI and the API boundary can map
// them to exit codes and messages without string matching (every code is also an ApiErrorCode).
import { CodedError } from '../../shared/errors.ts';

export type VaultErrorCode =
  | 'WRONG_PASSWORD'
  | 'VAULT_CORRUPT'
  | 'PROFILE_LOCKED'
  | 'UNSUPPORTED_VERSION'
  | 'VAULT_LOCKED'
  | 'VAULT_EXISTS'
  | 'NO_VAULT'
  | 'BAD_PARAMETERS'
  | 'WRONG_RECOVERY_PHRASE'
  | 'BUSY';

export class VaultError extends CodedError<VaultErrorCode> {}

export class WrongPassword extends VaultError {
  constructor() {
    super('WRONG_PASSWORD', 'The password is wrong.');
  }
}

export class WrongRecoveryPhrase extends VaultError {
  constructor(detail = 'The recovery phrase does not open this vault.') {
    super('WRONG_RECOVERY_PHRASE', detail);
  }
}

export class VaultCorrupt extends VaultError {
  constructor(detail: string, options?: { cause?: unknown }) {
    super('VAULT_CORRUPT', `The vault is damaged or was tampered with: ${detail}`, options);
  }
}

export class ProfileLocked extends VaultError {
  constructor(profileDir: string, pid?: number) {
    super('PROFILE_LOCKED', `The profile ${profileDir} is open in another process${pid ? ` (pid ${pid})` : ''}.`);
  }
}

export class UnsupportedVersion extends VaultError {
  constructor(found: number, supported: number) {
    super('UNSUPPORTED_VERSION', `The vault has format version ${found}; this build supports up to ${supported}.`);
  }
}

export class VaultLocked extends VaultError {
  constructor() {
    super('VAULT_LOCKED', 'The vault is locked.');
  }
}

export class VaultExists extends VaultError {
  constructor(profileDir: string, detail?: string) {
    super('VAULT_EXISTS', detail ?? `A vault already exists in ${profileDir}.`);
  }
}

export class NoVault extends VaultError {
  constructor(profileDir: string) {
    super('NO_VAULT', `There is no vault in ${profileDir}.`);
  }
}

export class BadParameters extends VaultError {
  constructor(detail: string) {
    super('BAD_PARAMETERS', `Refusing key-derivation parameters: ${detail}`);
  }
}

/** A long transaction (backup import) is open: other writes wait until it is over. */
export class VaultBusy extends VaultError {
  constructor() {
    super('BUSY', 'The vault is busy importing a backup; try again when the import has finished.');
  }
}

/**
 * A write of this vault did not reach the disk (an fsync of its WAL failed, or SQLite reported an
 * I/O error): what was committed since the last successful fsync may be lost at a power cut,
 * and no later fsync can prove otherwise (the kernel reports a writeback error once). Sticky until
 * the vault is locked: nothing may be acknowledged or handed to the relay as durable meanwhile.
 */
export class DurabilityLost extends VaultCorrupt {
  constructor(options?: { cause?: unknown }) {
    super('a write to disk failed; lock and unlock to go on', options);
  }
}
