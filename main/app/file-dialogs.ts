// The native file dialogs behind backupChooseFile and attachmentSaveAs (main/backup-files.ts
// decides which paths are then accepted, and does the saving). Modal to our window, so only it can raise them, and only through a call that
// ipc.ts already checked came from our page.
import type { BrowserWindow, Dialog } from 'electron';
import type { BackupFilePurpose } from '../../shared/api.ts';

const AGE_FILES = [{ name: 'Ephemera backup (age)', extensions: ['age'] }];
const TITLES: Record<BackupFilePurpose, string> = {
  export: 'Export a backup to',
  import: 'Import a backup',
  open: 'Open a backup read-only',
  identity: 'Choose an age identity file',
};

/** "Save as…" for an attachment: the suggested name is already made safe (backup-files.ts suggestedFileName). */
export function nativeSaveAsDialog(dialog: Pick<Dialog, 'showSaveDialog'>, window: BrowserWindow): (name: string) => Promise<string | undefined> {
  return async (name) => {
    const r = await dialog.showSaveDialog(window, { title: 'Save attachment as', defaultPath: name, properties: ['createDirectory', 'showOverwriteConfirmation'] });
    return r.canceled ? undefined : r.filePath;
  };
}

export function nativeFileDialog(dialog: Pick<Dialog, 'showSaveDialog' | 'showOpenDialog'>, window: BrowserWindow): (purpose: BackupFilePurpose) => Promise<string | undefined> {
  return async (purpose) => {
    if (purpose === 'export') {
      const r = await dialog.showSaveDialog(window, {
        title: TITLES.export,
        defaultPath: `ephemera-backup-${new Date().toISOString().slice(0, 10)}.age`,
        filters: AGE_FILES,
        properties: ['createDirectory', 'showOverwriteConfirmation'],
      });
      return r.canceled ? undefined : r.filePath;
    }
    const r = await dialog.showOpenDialog(window, {
      title: TITLES[purpose],
      properties: ['openFile'],
      ...(purpose === 'identity' ? {} : { filters: [...AGE_FILES, { name: 'All files', extensions: ['*'] }] }),
    });
    return r.canceled ? undefined : r.filePaths[0];
  };
}
