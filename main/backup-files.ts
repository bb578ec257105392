// Which files a UI may have backups written to or read from. The renderer is the less trusted
// side of the boundary (it shows untrusted messages), so a path it sends is never used as it is:
//   - Electron app: only a path that main's native file dialog returned (backupChooseFile) is
//     accepted, and only for what it was chosen for (a file picked to open cannot be exported
//     over). The dialog itself is main/app/file-dialogs.ts; this file stays Node-only.
//   - Browser mode: there is no native dialog, so paths are confined to one folder (the profile's
//     `backups/`, or the web host's --backup-dir): the renderer gives a bare file name.
// A refused path is ApiError PATH_NOT_ALLOWED, raised before the service is called.
import fs from 'node:fs';
import path from 'node:path';
import { ApiError, type BackupFilePurpose, type BackupKey, type EphemeraApi, type EphemeraService } from '../shared/api.ts';

export interface BackupFilePolicy {
  /** Answers backupChooseFile. */
  choose(purpose: BackupFilePurpose): Promise<string>;
  /** The path to use for what the renderer sent; throws PATH_NOT_ALLOWED. */
  resolve(purpose: BackupFilePurpose, given: string): string;
  /** "Save as…" for an attachment named `name`: the path the user chose, undefined if cancelled. Absent: no native dialog. */
  saveAs?(name: string): Promise<string | undefined>;
}

/** A name from a contact as the dialog's suggestion: its last path part, no leading dots or controls. */
export function suggestedFileName(name: string): string {
  // eslint-disable-next-line no-control-regex
  const safe = path.basename(name.replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\\/]/g, '_')).replace(/^\.+/, '');
  return safe === '' ? 'attachment' : safe.slice(0, 255);
}

function notAllowed(message: string): ApiError {
  return new ApiError('PATH_NOT_ALLOWED', message);
}

/** The service with backupChooseFile answered and every backup path passed through the policy. */
export function withBackupFilePolicy(service: EphemeraService, policy: BackupFilePolicy): EphemeraService {
  const key = (k: BackupKey): BackupKey => (k.kind === 'identityFile' ? { ...k, path: policy.resolve('identity', k.path) } : k);
  const overrides: Partial<Pick<EphemeraApi, 'backupChooseFile' | 'backupExport' | 'backupImport' | 'backupRestore' | 'backupOpen' | 'sendFile' | 'saveAttachment' | 'attachmentSaveAs'>> = {
    backupChooseFile: async ({ purpose }) => ({ path: await policy.choose(purpose) }),
    backupExport: async (p) => service.backupExport({ ...p, path: policy.resolve('export', p.path) }),
    backupImport: async (p) => service.backupImport({ ...p, path: policy.resolve('import', p.path), key: key(p.key) }),
    backupRestore: async (p) => service.backupRestore({ ...p, path: policy.resolve('import', p.path), key: key(p.key) }),
    backupOpen: async (p) => service.backupOpen({ ...p, path: policy.resolve('open', p.path), key: key(p.key) }),
    // A renderer must not read or write arbitrary files: it sends the bytes of a File it holds
    // (attachmentUpload*) and saves what attachmentRead gives it (main/messenger/attachment-ui.ts).
    sendFile: async () => Promise.reject(notAllowed('A window sends files with the attach button, not by path.')),
    saveAttachment: async () => Promise.reject(notAllowed('A window saves attachments with their Save button, not to a path.')),
  };
  const { saveAs } = policy;
  if (saveAs) {
    // Downloaded and checked first (so the dialog never waits on the relay), then written only
    // to the path the user chose in main's dialog; the renderer never names a path.
    overrides.attachmentSaveAs = async ({ attachmentId, jobId, backupId }) => {
      // A file of an opened backup is read from the backup file once the user chose where (its name is the renderer's to show).
      const a = backupId === undefined ? await service.attachmentDownload({ attachmentId, ...(jobId !== undefined ? { jobId } : {}) }) : undefined;
      const chosen = await saveAs(suggestedFileName(a?.name ?? 'attachment'));
      if (chosen === undefined || chosen === '' || !path.isAbsolute(chosen)) throw new ApiError('CANCELLED', 'No file was chosen.');
      const { bytes } = await service.saveAttachment({ attachmentId, path: chosen, ...(backupId !== undefined ? { backupId, ...(jobId !== undefined ? { jobId } : {}) } : {}) });
      return { bytes, path: chosen };
    };
  }
  return new Proxy(service, {
    get(target, property) {
      if (Object.hasOwn(overrides, property)) return overrides[property as keyof typeof overrides];
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

type Access = 'write' | 'read' | 'identity';
const accessFor = (purpose: BackupFilePurpose): Access => (purpose === 'export' ? 'write' : purpose === 'identity' ? 'identity' : 'read');

/**
 * Electron: `showDialog` runs the native dialog and returns the chosen path, or undefined if the
 * user cancelled. Only paths it returned are accepted later, for the same kind of access.
 */
export function dialogPolicy(showDialog: (purpose: BackupFilePurpose) => Promise<string | undefined>, saveAsDialog?: (name: string) => Promise<string | undefined>): BackupFilePolicy {
  const granted = new Map<string, Set<Access>>();
  return {
    ...(saveAsDialog ? { saveAs: saveAsDialog } : {}),
    async choose(purpose) {
      const chosen = await showDialog(purpose);
      if (chosen === undefined || chosen === '' || !path.isAbsolute(chosen)) throw new ApiError('CANCELLED', 'No file was chosen.');
      const grants = granted.get(chosen) ?? new Set<Access>();
      grants.add(accessFor(purpose));
      granted.set(chosen, grants);
      return chosen;
    },
    resolve(purpose, given) {
      if (!granted.get(given)?.has(accessFor(purpose))) {
        throw notAllowed('The desktop app uses only files chosen in its file dialog: choose the file again.');
      }
      return given;
    },
  };
}

/** A bare file name: no separators, no "..", not hidden, no control characters. */
const FILE_NAME = /^[\p{L}\p{N}_][\p{L}\p{N}_ .,()+-]{0,127}$/u;
/**
 * Windows device names, with any extension and any case ("nul.age" opens the NUL device there);
 * Windows also ignores spaces before the extension and takes the superscript digits.
 */
const DEVICE_NAME = /^(con|prn|aux|nul|com[1-9¹²³]|lpt[1-9¹²³])$/iu;
const isDeviceName = (name: string): boolean => DEVICE_NAME.test(name.split('.')[0]!.trimEnd());

/**
 * Browser mode: backups live in `folder`, named by a bare file name. The folder is made (0700)
 * on the first export; a symbolic link in it is refused (it could point anywhere). The check
 * here is only the first line: a link swapped in after it is not followed either, because the
 * service opens backup and identity files for reading with O_NOFOLLOW (main/messenger/backups.ts),
 * and an export replaces the name by rename, never writing through a link.
 */
export function folderPolicy(folder: string): BackupFilePolicy {
  const dir = path.resolve(folder);
  const refusal = () => notAllowed(`In browser mode backups are kept in one folder (${dir}): give just a file name there, such as ephemera-backup.age.`);
  return {
    choose: () => Promise.reject(new ApiError('NOT_AVAILABLE', `There is no file dialog in browser mode: give a file name in ${dir}.`)),
    resolve(purpose, given) {
      if (!FILE_NAME.test(given) || given.includes('..') || given.endsWith('.') || given.endsWith(' ') || isDeviceName(given)) throw refusal();
      const file = path.join(dir, given);
      if (path.dirname(file) !== dir) throw refusal();
      let stat: fs.Stats | undefined;
      try {
        stat = fs.lstatSync(file);
      } catch {
        stat = undefined;
      }
      if (stat?.isSymbolicLink()) throw refusal();
      if (purpose === 'export') fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      return file;
    },
  };
}
