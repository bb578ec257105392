// A service for tests of the path policies (Electron dialogs, browser-mode backup folder): every
// backup call that reaches it is recorded with the path (and identity file) it got; every other
// method is NOT_AVAILABLE.
import { ApiError, methodNames, type EphemeraService } from '../../shared/api.ts';

export interface ReachedCall {
  method: string;
  path: string;
  identityFile?: string;
}

export function recordingBackupService(reached: ReachedCall[]): EphemeraService {
  const base: Record<string, unknown> = {};
  for (const m of methodNames) base[m] = () => Promise.reject(new ApiError('NOT_AVAILABLE', `${m} not in this test`));
  const record = (method: string) => async (p: { path: string; key?: { kind: string; path?: string } }) => {
    reached.push({ method, path: p.path, ...(p.key?.kind === 'identityFile' ? { identityFile: p.key.path! } : {}) });
    if (method === 'backupExport') {
      const none = { contacts: 0, conversations: 0, messages: 0, secrets: 0, attachments: 0, groups: 0 };
      return { path: p.path, messages: 0, bytes: 0, counts: none, includesIdentity: false, signerFingerprint: null };
    }
    // Reading needs no real file here: reaching the service is what the tests look at.
    throw new ApiError('BACKUP_WRONG_KEY', 'recorded');
  };
  return Object.assign(base, {
    backupExport: record('backupExport'),
    backupImport: record('backupImport'),
    backupRestore: record('backupRestore'),
    backupOpen: record('backupOpen'),
    subscribe: () => () => undefined,
  }) as unknown as EphemeraService;
}
