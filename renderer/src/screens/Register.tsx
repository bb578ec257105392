import { useState, type FormEvent } from 'react';
import { HANDLE_PATTERN, type Settings } from '../../../shared/api.ts';
import { useApi } from '../api.ts';
import { useFormAction } from '../form-action.ts';

/** Register this device on a relay under a handle. */
export function Register({ settings }: { settings: Settings | null }) {
  const api = useApi();
  const [handle, setHandle] = useState('');
  const [descriptor, setDescriptor] = useState('');
  const { busy, error, setError, attempt } = useFormAction();
  const needsDescriptor = !settings?.relayUrl;

  async function submit(e: FormEvent) {
    e.preventDefault();
    setError('');
    if (!HANDLE_PATTERN.test(handle)) return setError('A handle is 3 to 32 lowercase letters, digits or underscores.');
    if (needsDescriptor && descriptor.trim() === '') return setError('Paste the relay\'s server descriptor.');
    await attempt(async () => {
      await api.register({ handle, ...(descriptor.trim() ? { serverDescriptor: descriptor.trim() } : {}) });
    });
  }

  return (
    <main className="onboarding" aria-labelledby="register-title">
      <h1 id="register-title">Choose your handle</h1>
      <form onSubmit={(e) => void submit(e)}>
        <p>Others find you by this handle on the relay. The relay sees handles, never message content.</p>
        <div className="field">
          <label htmlFor="handle">Handle</label>
          <input id="handle" value={handle} onChange={(e) => setHandle(e.target.value.toLowerCase())} autoComplete="username" autoFocus aria-describedby="handle-hint" />
          <span id="handle-hint" className="hint">3–32 lowercase letters, digits or underscores.</span>
        </div>
        <div className="field">
          <label htmlFor="descriptor">Server descriptor{needsDescriptor ? '' : ` (optional; current relay: ${settings?.relayUrl ?? ''})`}</label>
          <textarea id="descriptor" rows={4} value={descriptor} onChange={(e) => setDescriptor(e.target.value)} spellCheck={false} />
        </div>
        {error ? <p role="alert" className="error">{error}</p> : null}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Registering…' : 'Register'}
        </button>
      </form>
    </main>
  );
}
