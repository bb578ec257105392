import { useState, type FormEvent } from 'react';
import { useApi } from '../api.ts';
import { useFormAction } from '../form-action.ts';
import { PasswordField } from '../components/PasswordField.tsx';
import { estimatePasswordStrength, MIN_PASSWORD_SCORE, normalizePhrase, phraseWords } from '../logic.ts';

type Step = { kind: 'password' } | { kind: 'phrase'; phrase: string } | { kind: 'confirm'; phrase: string };

/** Create vault: password with strength estimate, then the recovery phrase shown, then typed back. */
export function CreateVault({ onDone }: { onDone: () => void }) {
  const api = useApi();
  const [step, setStep] = useState<Step>({ kind: 'password' });
  const [password, setPassword] = useState('');
  const [repeat, setRepeat] = useState('');
  const [written, setWritten] = useState(false);
  const [typed, setTyped] = useState('');
  const { busy, error, setError, attempt } = useFormAction();

  async function create(e: FormEvent) {
    e.preventDefault();
    setError('');
    if (estimatePasswordStrength(password).score < MIN_PASSWORD_SCORE) return setError('Choose a stronger password: at least "Good".');
    if (password !== repeat) return setError('The two passwords differ.');
    await attempt(async () => {
      const { recoveryPhrase } = await api.createVault({ password });
      setPassword('');
      setRepeat('');
      setStep({ kind: 'phrase', phrase: recoveryPhrase });
    });
  }

  async function confirm(e: FormEvent, phrase: string) {
    e.preventDefault();
    setError('');
    if (normalizePhrase(typed) !== normalizePhrase(phrase)) return setError('That is not the phrase shown before. Check each word and its order.');
    await attempt(async () => {
      const { confirmed } = await api.confirmRecoveryPhrase({ recoveryPhrase: normalizePhrase(typed) });
      if (!confirmed) return setError('The vault did not accept this phrase.');
      setTyped('');
      onDone();
    });
  }

  return (
    <main className="onboarding" aria-labelledby="create-title">
      <h1 id="create-title">Create your vault</h1>
      {step.kind === 'password' ? (
        <form onSubmit={(e) => void create(e)}>
          <p>Your history is encrypted on this computer with a key only your password (or your recovery phrase) can open.</p>
          <PasswordField label="Password" value={password} onChange={setPassword} autoComplete="new-password" showStrength autoFocus />
          <PasswordField label="Repeat password" value={repeat} onChange={setRepeat} autoComplete="new-password" />
          {error ? <p role="alert" className="error">{error}</p> : null}
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Creating…' : 'Create vault'}
          </button>
        </form>
      ) : step.kind === 'phrase' ? (
        <section aria-labelledby="phrase-title">
          <h2 id="phrase-title">Your recovery phrase</h2>
          <p>Write these 24 words down, in order, and keep them somewhere safe. They open your vault if you forget the password. They are shown only now.</p>
          <ol className="phrase" aria-label="Recovery phrase">
            {phraseWords(step.phrase).map((word, i) => (
              <li key={i}>{word}</li>
            ))}
          </ol>
          <label className="check">
            <input type="checkbox" checked={written} onChange={(e) => setWritten(e.target.checked)} /> I have written down the 24 words
          </label>
          <button type="button" className="primary" disabled={!written} onClick={() => setStep({ kind: 'confirm', phrase: step.phrase })}>
            Continue
          </button>
        </section>
      ) : (
        <form onSubmit={(e) => void confirm(e, step.phrase)}>
          <h2>Confirm your recovery phrase</h2>
          <div className="field">
            <label htmlFor="confirm-phrase">Type the 24 words</label>
            <textarea id="confirm-phrase" rows={4} value={typed} onChange={(e) => setTyped(e.target.value)} autoComplete="off" spellCheck={false} autoFocus />
          </div>
          {error ? <p role="alert" className="error">{error}</p> : null}
          <div className="row">
            <button type="button" onClick={() => setStep({ kind: 'phrase', phrase: step.phrase })}>
              Show the phrase again
            </button>
            <button type="submit" className="primary" disabled={busy}>
              Confirm phrase
            </button>
          </div>
        </form>
      )}
    </main>
  );
}
