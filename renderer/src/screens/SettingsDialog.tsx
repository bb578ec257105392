import { useEffect, useId, useState, type FormEvent } from 'react';
import type { BackupProgress, NotificationPrivacy, OpenedBackup, Settings, Theme } from '../../../shared/api.ts';
import { NotificationSetting } from './NotificationSetting.tsx';
import { useApi, errorText, hasNativeFileDialogs } from '../api.ts';
import { Dialog } from '../components/Dialog.tsx';
import { PasswordField } from '../components/PasswordField.tsx';
import { estimatePasswordStrength, MIN_PASSWORD_SCORE, newJobId } from '../logic.ts';
import { importLosses } from '../import-losses.ts';

const AUTO_LOCK_CHOICES = [0, 1, 5, 15, 30, 60, 240];

export function SettingsDialog({ settings, onClose, onOpenBackup }: { settings: Settings; onClose: () => void; onOpenBackup: (b: OpenedBackup) => void }) {
  return (
    <Dialog title="Settings" onClose={onClose} wide>
      <GeneralSettings settings={settings} />
      <ChangePassword />
      <RelaySettings settings={settings} />
      <Backups onOpenBackup={onOpenBackup} />
      <DeleteAllData />
      <section aria-labelledby="about-title">
        <h3 id="about-title">About</h3>
        <p>
          Ephemera is free software under the{' '}
          <a href="https://www.gnu.org/licenses/agpl-3.0.html" target="_blank" rel="noreferrer noopener">
            GNU Affero General Public License v3
          </a>
          , with no warranty.
        </p>
      </section>
    </Dialog>
  );
}

function GeneralSettings({ settings }: { settings: Settings }) {
  const api = useApi();
  const [error, setError] = useState('');
  const ids = { theme: useId(), lock: useId(), notify: useId(), metadata: useId() };
  const update = (patch: { theme?: Theme; autoLockMinutes?: number; notifications?: NotificationPrivacy; keepImageMetadata?: boolean }) => api.settingsUpdate(patch).then(() => setError(''), (err: unknown) => setError(errorText(err)));
  return (
    <section aria-labelledby="general-title">
      <h3 id="general-title">General</h3>
      <div className="field">
        <label htmlFor={ids.theme}>Theme</label>
        <select id={ids.theme} value={settings.theme} onChange={(e) => void update({ theme: e.target.value as Theme })}>
          <option value="system">Same as system</option>
          <option value="light">Light</option>
          <option value="dark">Dark</option>
        </select>
      </div>
      <div className="field">
        <label htmlFor={ids.lock}>Lock after being idle for</label>
        <select id={ids.lock} value={settings.autoLockMinutes} onChange={(e) => void update({ autoLockMinutes: Number(e.target.value) })}>
          {AUTO_LOCK_CHOICES.map((m) => (
            <option key={m} value={m}>
              {m === 0 ? 'Never' : m < 60 ? `${m} minute${m === 1 ? '' : 's'}` : `${m / 60} hour${m === 60 ? '' : 's'}`}
            </option>
          ))}
        </select>
      </div>
      <NotificationSetting id={ids.notify} value={settings.notifications} onChange={(notifications) => void update({ notifications })} />
      <div className="field">
        <label htmlFor={ids.metadata}>
          <input id={ids.metadata} type="checkbox" checked={settings.keepImageMetadata === true} onChange={(e) => void update({ keepImageMetadata: e.target.checked })} />{' '}
          Keep location and camera details in photos I send
        </label>
        <p className="hint">Off (the default): JPEG and PNG images go without their EXIF, GPS and text metadata.</p>
      </div>
      <p className="hint">Lock now at any time with Ctrl+Shift+L.</p>
      {error ? <p role="alert" className="error">{error}</p> : null}
    </section>
  );
}

function ChangePassword() {
  const api = useApi();
  const [oldPassword, setOld] = useState('');
  const [newPassword, setNew] = useState('');
  const [repeat, setRepeat] = useState('');
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  async function submit(e: FormEvent) {
    e.preventDefault();
    if (newPassword !== repeat) return setMessage({ ok: false, text: 'The two new passwords differ.' });
    if (estimatePasswordStrength(newPassword).score < MIN_PASSWORD_SCORE) return setMessage({ ok: false, text: 'Choose a stronger password: at least "Good".' });
    try {
      await api.changePassword({ oldPassword, newPassword });
      setOld('');
      setNew('');
      setRepeat('');
      setMessage({ ok: true, text: 'Password changed.' });
    } catch (err) {
      setMessage({ ok: false, text: errorText(err) });
    }
  }
  return (
    <section aria-labelledby="password-title">
      <h3 id="password-title">Change password</h3>
      <form onSubmit={(e) => void submit(e)}>
        <PasswordField label="Current password" value={oldPassword} onChange={setOld} autoComplete="current-password" />
        <PasswordField label="New password" value={newPassword} onChange={setNew} autoComplete="new-password" showStrength />
        <PasswordField label="Repeat new password" value={repeat} onChange={setRepeat} autoComplete="new-password" />
        {message ? <p role={message.ok ? 'status' : 'alert'} className={message.ok ? 'ok' : 'error'}>{message.text}</p> : null}
        <button type="submit">Change password</button>
      </form>
    </section>
  );
}

function DeleteAllData() {
  const api = useApi();
  const [asking, setAsking] = useState(false);
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const close = () => {
    setAsking(false);
    setPassword('');
    setError('');
  };
  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    try {
      // On success the vault becomes 'none' and the app shows Create vault (this dialog goes away).
      await api.wipeProfile({ password });
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  }
  return (
    <section aria-labelledby="wipe-title">
      <h3 id="wipe-title">Delete all data</h3>
      <p>
        Overwrites and removes every file of this profile on this device: messages, contacts, keys, settings, and backups kept in the profile&apos;s own backups
        folder. Backups saved elsewhere are not touched. This cannot be undone.
      </p>
      <button type="button" onClick={() => setAsking(true)}>
        Delete all data…
      </button>
      {asking ? (
        <Dialog title="Delete all data?" onClose={close}>
          <form onSubmit={(e) => void submit(e)}>
            <p>Everything in this profile is overwritten and removed. Enter your password to confirm.</p>
            <PasswordField label="Password" value={password} onChange={setPassword} autoComplete="current-password" />
            {error ? <p role="alert" className="error">{error}</p> : null}
            <div className="dialog-actions">
              <button type="submit" className="primary" disabled={busy || password === ''}>
                {busy ? 'Deleting…' : 'Delete all data'}
              </button>
              <button type="button" onClick={close}>
                Cancel
              </button>
            </div>
          </form>
        </Dialog>
      ) : null}
    </section>
  );
}

function RelaySettings({ settings }: { settings: Settings }) {
  const api = useApi();
  const [descriptor, setDescriptor] = useState('');
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  async function submit(e: FormEvent) {
    e.preventDefault();
    try {
      await api.settingsUpdate({ relayDescriptor: descriptor.trim() });
      setDescriptor('');
      setMessage({ ok: true, text: 'Relay saved.' });
    } catch (err) {
      setMessage({ ok: false, text: errorText(err) });
    }
  }
  return (
    <section aria-labelledby="relay-title">
      <h3 id="relay-title">Relay</h3>
      <p>Current relay: {settings.relayUrl ?? 'none configured'}</p>
      <form onSubmit={(e) => void submit(e)}>
        <div className="field">
          <label htmlFor="relay-descriptor">New server descriptor</label>
          <textarea id="relay-descriptor" rows={3} value={descriptor} onChange={(e) => setDescriptor(e.target.value)} spellCheck={false} />
        </div>
        {message ? <p role={message.ok ? 'status' : 'alert'} className={message.ok ? 'ok' : 'error'}>{message.text}</p> : null}
        <button type="submit" disabled={descriptor.trim() === ''}>
          Use this relay
        </button>
      </form>
    </section>
  );
}

type BackupAction = 'export' | 'import' | 'open';

function Backups({ onOpenBackup }: { onOpenBackup: (b: OpenedBackup) => void }) {
  const api = useApi();
  const [action, setAction] = useState<BackupAction>('export');
  const [path, setPath] = useState('');
  const [passphrase, setPassphrase] = useState('');
  const [includeIdentity, setIncludeIdentity] = useState(false);
  const [job, setJob] = useState<string | null>(null);
  const [progress, setProgress] = useState<BackupProgress | null>(null);
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  // An import refused as not signed by this profile (BACKUP_UNTRUSTED): the warning shown
  // before the user may confirm it (docs/backup-format.md, "Whose backup it is").
  const [untrusted, setUntrusted] = useState<string | null>(null);
  const ids = { action: useId(), path: useId(), pathHint: useId() };
  // The Electron app takes backup files only from main's native dialog; browser mode only by
  // name, in the web host's backups folder (main/backup-files.ts).
  const native = hasNativeFileDialogs();

  async function chooseFile() {
    setMessage(null);
    try {
      setPath((await api.backupChooseFile({ purpose: action })).path);
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'CANCELLED') setMessage({ ok: false, text: errorText(err) });
    }
  }

  useEffect(() => api.on('backupProgress', (p) => p.jobId === job && setProgress(p)), [api, job]);

  async function submit(e: FormEvent) {
    e.preventDefault();
    await run(false);
  }

  async function run(trustUnsigned: boolean) {
    const jobId = newJobId((n) => crypto.getRandomValues(new Uint8Array(n)));
    setJob(jobId);
    setProgress(null);
    setMessage(null);
    const key = { kind: 'passphrase' as const, passphrase };
    try {
      if (action === 'export') {
        const r = await api.backupExport({ jobId, path, protection: key, includeIdentity });
        setMessage({ ok: true, text: `Exported ${r.messages} messages to ${r.path}.` });
      } else if (action === 'import') {
        const r = await api.backupImport({ jobId, path, key, ...(trustUnsigned ? { trustUnsigned } : {}) });
        const origin = r.signer === 'own' ? '' : ' The backup was not signed by you: nothing in it is marked verified.';
        setMessage({ ok: true, text: `Imported ${r.messagesAdded} new messages (${r.messagesSkipped} already here).${origin}${importLosses(r)}` });
      } else {
        onOpenBackup(await api.backupOpen({ jobId, path, key }));
      }
      setPassphrase('');
    } catch (err) {
      // Kept: the passphrase, for the import the user may confirm in the warning.
      if ((err as { code?: unknown }).code === 'BACKUP_UNTRUSTED') setUntrusted(errorText(err));
      else setMessage({ ok: false, text: errorText(err) });
    } finally {
      setJob(null);
    }
  }

  return (
    <section aria-labelledby="backup-title">
      <h3 id="backup-title">Backup</h3>
      <form onSubmit={(e) => void submit(e)}>
        <div className="field">
          <label htmlFor={ids.action}>Action</label>
          <select
            id={ids.action}
            value={action}
            onChange={(e) => {
              setAction(e.target.value as BackupAction);
              if (native) setPath(''); // a file chosen to read cannot be written, and the reverse
            }}
            disabled={job !== null}
          >
            <option value="export">Export a backup</option>
            <option value="import">Import a backup</option>
            <option value="open">Open a backup read-only</option>
          </select>
        </div>
        {native ? (
          <div className="field">
            <span id={ids.path}>Backup file</span>
            <output aria-labelledby={ids.path}>{path === '' ? 'No file chosen' : path}</output>
            <button type="button" onClick={() => void chooseFile()} disabled={job !== null}>
              Choose file…
            </button>
          </div>
        ) : (
          <div className="field">
            <label htmlFor={ids.path}>Backup file name</label>
            <input
              id={ids.path}
              value={path}
              onChange={(e) => setPath(e.target.value)}
              placeholder="ephemera-backup.age"
              aria-describedby={ids.pathHint}
              autoComplete="off"
              spellCheck={false}
            />
            <span id={ids.pathHint} className="hint">
              In browser mode backups are kept in one folder: the profile&apos;s backups folder, or the one given to Ephemera with --backup-dir.
            </span>
          </div>
        )}
        <PasswordField label="Backup passphrase" value={passphrase} onChange={setPassphrase} autoComplete="new-password" showStrength={action === 'export'} />
        {action === 'export' ? (
          <label className="check">
            <input type="checkbox" checked={includeIdentity} onChange={(e) => setIncludeIdentity(e.target.checked)} /> Include my account identity (anyone with the file and passphrase could act as
            me)
          </label>
        ) : null}
        {job ? (
          <div className="progress">
            <progress max={progress?.total ?? undefined} value={progress?.done ?? undefined} aria-label="Backup progress" />
            <span>{progress ? `${progress.phase}: ${progress.done} of ${progress.total} ${progress.unit}` : 'Starting…'}</span>
            <button type="button" onClick={() => void api.backupCancel({ jobId: job })}>
              Cancel
            </button>
          </div>
        ) : null}
        {message ? <p role={message.ok ? 'status' : 'alert'} className={message.ok ? 'ok' : 'error'}>{message.text}</p> : null}
        <button type="submit" className="primary" disabled={job !== null || path.trim() === '' || passphrase === ''}>
          {action === 'export' ? 'Export' : action === 'import' ? 'Import' : 'Open'}
        </button>
      </form>
      {untrusted !== null ? (
        <Dialog title="This backup is not signed by you" onClose={() => setUntrusted(null)}>
          <p role="alert">{untrusted}</p>
          <p>Such a file can hold invented messages. If you import it anyway, its contacts are not marked verified and nothing already in this profile changes.</p>
          <div className="actions">
            <button type="button" onClick={() => setUntrusted(null)}>
              Don&apos;t import
            </button>
            <button
              type="button"
              onClick={() => {
                setUntrusted(null);
                void run(true);
              }}
            >
              Import anyway
            </button>
          </div>
        </Dialog>
      ) : null}
    </section>
  );
}
