// Scalars of the renderer <-> main contract (shared/api.ts): ids, times, handles, secrets as text.
import { z } from 'zod';
import { HANDLE_RE } from '../../protocol/schema.ts';

/** Opaque identifiers chosen by main (contacts, conversations, messages). */
export const Id = z.string().min(1).max(128).regex(/^[A-Za-z0-9_.:-]+$/, 'must be an opaque id');
/** Milliseconds since the Unix epoch, on this device's clock. */
export const Timestamp = z.number().int().nonnegative();
/** A user handle on the relay: the relay's own rule (shared/protocol/schema.ts), so the UI can say
 * what is wrong before any round trip. */
export const HANDLE_PATTERN = HANDLE_RE;
export const Handle = z.string().regex(HANDLE_PATTERN, 'must be 3-32 lowercase letters, digits or underscores');
export const Password = z.string().min(1).max(1024);
/** 24 BIP39 words separated by single spaces (main normalises case and spacing before checking). */
export const RecoveryPhrase = z.string().min(1).max(1024);
/** A server descriptor as text (the JSON the relay prints); main parses and pins it. */
export const ServerDescriptorText = z.string().min(2).max(16 * 1024);
/**
 * A backup file. From the renderer it is never taken as it is: in the Electron app it must be a
 * path that main's native file dialog returned (backupChooseFile); in browser mode it is a file
 * name in the web host's backups folder (main/backup-files.ts). Anything else is PATH_NOT_ALLOWED.
 */
export const FilePath = z.string().min(1).max(4096);
/** Chosen by the renderer so progress events can be matched before the call returns. */
export const JobId = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, 'must be 8-64 URL-safe characters');
/**
 * The one limit on a message's text, in UTF-16 code units (JavaScript string length), for every
 * path into the vault: sending, receiving (main/e2e/content.ts), backup import and the vault
 * itself; history pages can therefore never hold a text this contract would reject.
 */
export const MAX_TEXT_CHARS = 32 * 1024;
export const MessageText = z.string().min(1).max(MAX_TEXT_CHARS);
export const Count = z.number().int().nonnegative();
