// Portable encrypted backups in the age format (docs/backup-format.md).
export { exportBackup, ACCOUNT_IDENTITY_SECRETS, type ExportOptions, type ExportResult } from './export.ts';
export { verifyBackup, type ReadOptions } from './read.ts';
export {
  importBackup,
  inspectBackup,
  UNVERIFIED_IMPORTS,
  type BackupSigner,
  type ImportOptions,
  type ImportResult,
  type InspectResult,
  type UnverifiedImportMark,
} from './import.ts';
export { signerFingerprint, SIGNATURE_CONTEXT } from './signature.ts';
export { openBackup, BackupArchive, foldText, type BackupHistory, type BackupMessage, type BackupSearchHit } from './open.ts';
export { parseIdentityFile, validateRecipients, type DecryptKeys, type EncryptKeys, type ChunkCipher } from './age-file.ts';
export { DEFAULT_WORK_FACTOR, MAX_WORK_FACTOR, MIN_EXPORT_WORK_FACTOR } from './scrypt.ts';
export { BACKUP_FORMAT, BACKUP_VERSION, messageFields, type BackupCounts, type HeaderLine, type MessageFields } from './format.ts';
export type { BackupProgress, ProgressListener } from './progress.ts';
export { readArchivedAttachment, type ArchiveSource } from './attachment-read.ts';
export { ATTACHMENT_CHUNK_BYTES, type AttachmentSink, type AttachmentSource, type BackupAttachment } from './attachments.ts';
export { BACKUP_VERSION_WITH_GROUPS, type BackupGroup, type GroupSink, type GroupSource } from './groups.ts';
export * from './errors.ts';
