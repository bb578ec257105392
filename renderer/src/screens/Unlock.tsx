import { useState, type FormEvent } from 'react';
import { useApi } from '../api.ts';
import { useFormAction } from '../form-action.ts';
import { PasswordField } from '../components/PasswordField.tsx';
import { estimatePasswordStrength, MIN_PASSWORD_SCORE, normalizePhrase } from '../logic.ts';

/**
 * Said while the scrub at lock (main/vault/scrub.ts) holds the profile: an unlock waits for it,
 * then goes on by itself. Its live region stays in the page (empty when idle), so a screen reader
 * announces the text when it appears.
 */
const CLEANING = 'Finishing the clean-up of deleted messages…';

/**
 * Unlock with the password, or ("forgot password") with the recovery phrase and a new password.
 * `cleaning`: the clean-up of deleted data at the last lock is still under way.
 */
export function Unlock({ cleaning = false }: { cleaning?: boolean }) {
  const api = useApi();
  const [mode, setMode] = useState<'password' | 'recovery'>('password');
  const [password, setPassword] = useState('');
  const [phrase, setPhrase] = useState('');
  const [newPassword, setNewPassword] = useState('');
  const [repeat, setRepeat] = useState('');
  const { busy, error, setError, attempt } = useFormAction();

  async function run(e: FormEvent, action: () => Promise<unknown>) {
    e.preventDefault();
    setError('');
    await attempt(action);
  }

  if (mode === 'recovery') {
    return (
      <main className="onboarding" aria-labelledby="recover-title">
        <h1 id="recover-title">Open with your recovery phrase</h1>
        <form
          onSubmit={(e) =>
            void run(e, async () => {
              if (newPassword !== repeat) throw new Error('The two passwords differ.');
              if (estimatePasswordStrength(newPassword).score < MIN_PASSWORD_SCORE) throw new Error('Choose a stronger password: at least "Good".');
              await api.unlockWithRecovery({ recoveryPhrase: normalizePhrase(phrase), newPassword });
            })
          }
        >
          <div className="field">
            <label htmlFor="recovery-phrase">Recovery phrase (24 words)</label>
            <textarea id="recovery-phrase" rows={4} value={phrase} onChange={(e) => setPhrase(e.target.value)} autoComplete="off" spellCheck={false} autoFocus />
          </div>
          <PasswordField label="New password" value={newPassword} onChange={setNewPassword} autoComplete="new-password" showStrength />
          <PasswordField label="Repeat new password" value={repeat} onChange={setRepeat} autoComplete="new-password" />
          <p role="status" className="hint cleaning">{cleaning ? CLEANING : ''}</p>
          {error ? <p role="alert" className="error">{error}</p> : null}
          <div className="row">
            <button type="button" onClick={() => (setMode('password'), setError(''))}>
              Back
            </button>
            <button type="submit" className="primary" disabled={busy}>
              {busy ? 'Opening…' : 'Open and set new password'}
            </button>
          </div>
        </form>
      </main>
    );
  }
  return (
    <main className="onboarding" aria-labelledby="unlock-title">
      <h1 id="unlock-title">Unlock Ephemera</h1>
      <form onSubmit={(e) => void run(e, async () => {
        await api.unlock({ password });
        setPassword('');
      })}>
        <PasswordField label="Password" value={password} onChange={setPassword} autoComplete="current-password" autoFocus />
        <p role="status" className="hint cleaning">{cleaning ? CLEANING : ''}</p>
        {error ? <p role="alert" className="error">{error}</p> : null}
        <div className="row">
          <button type="button" className="link" onClick={() => (setMode('recovery'), setError(''))}>
            Forgot password?
          </button>
          <button type="submit" className="primary" disabled={busy || password === ''}>
            {busy ? 'Unlocking…' : 'Unlock'}
          </button>
        </div>
      </form>
    </main>
  );
}
