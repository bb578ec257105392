// Backups: protection, keys, progress and summaries (shared/api.ts).
import { z } from 'zod';
import { Count, FilePath, Id, JobId, Password, Timestamp } from './scalars.ts';

/** What a chosen file is for: export writes it; import and open read it; identity is an age identity file. */
export const BackupFilePurpose = z.enum(['export', 'import', 'open', 'identity']);

/** Read-only view of an opened backup; passed as `backupId` to list/history/search. */
export const BackupId = Id;

export const BackupProtection = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('passphrase'), passphrase: Password }),
  z.strictObject({
    kind: z.literal('recipients'),
    recipients: z.array(z.string().regex(/^age1[0-9a-z]{20,200}$/, 'must be an age1... recipient')).min(1).max(32),
  }),
]);

export const BackupKey = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('passphrase'), passphrase: Password }),
  z.strictObject({ kind: z.literal('identityFile'), path: FilePath }),
]);

export const BackupOperation = z.enum(['export', 'import', 'open']);

export const BackupProgress = z.strictObject({
  jobId: JobId,
  operation: BackupOperation,
  phase: z.enum(['reading', 'verifying', 'writing', 'merging']),
  done: Count,
  /** null while the total is unknown. */
  total: Count.nullable(),
  unit: z.literal('messages'),
});

export const ExportSummary = z.strictObject({ path: FilePath, messages: Count, bytes: Count });
/**
 * Who signed a backup, as seen from this profile: its own identity, another identity (shown by
 * key fingerprint), or nobody (an old or identity-less backup). Only 'own' imports without the
 * user's confirmation (backupImport trustUnsigned), and only then keeps verified marks.
 */
export const BackupSignerStatus = z.enum(['own', 'foreign', 'unsigned']);
export const ImportSummary = z.strictObject({
  contactsAdded: Count,
  conversationsAdded: Count,
  messagesAdded: Count,
  messagesSkipped: Count,
  signer: BackupSignerStatus,
  /** 40 hex digits in groups of 8 (SHA-256 of the signer's identity key); null when unsigned. */
  signerFingerprint: z.string().max(64).nullable(),
});
export const OpenedBackup = z.strictObject({
  backupId: BackupId,
  createdAt: Timestamp,
  contacts: Count,
  conversations: Count,
  messages: Count,
});

export type BackupProgress = z.infer<typeof BackupProgress>;
export type BackupProtection = z.infer<typeof BackupProtection>;
export type BackupKey = z.infer<typeof BackupKey>;
export type BackupFilePurpose = z.infer<typeof BackupFilePurpose>;
export type ExportSummary = z.infer<typeof ExportSummary>;
export type ImportSummary = z.infer<typeof ImportSummary>;
export type OpenedBackup = z.infer<typeof OpenedBackup>;
