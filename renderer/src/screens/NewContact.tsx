import { useState, type FormEvent } from 'react';
import { HANDLE_PATTERN, type Contact } from '../../../shared/api.ts';
import { useApi, errorText } from '../api.ts';
import { Dialog } from '../components/Dialog.tsx';

export function NewContact({ onClose, onAdded }: { onClose: () => void; onAdded: (contact: Contact) => void }) {
  const api = useApi();
  const [handle, setHandle] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  async function submit(e: FormEvent) {
    e.preventDefault();
    setError('');
    if (!HANDLE_PATTERN.test(handle)) return setError('A handle is 3 to 32 lowercase letters, digits or underscores.');
    setBusy(true);
    try {
      onAdded(await api.contactAdd({ handle }));
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  }
  return (
    <Dialog title="New contact" onClose={onClose}>
      <form onSubmit={(e) => void submit(e)}>
        <div className="field">
          <label htmlFor="contact-handle">Their handle</label>
          <input id="contact-handle" value={handle} onChange={(e) => setHandle(e.target.value.toLowerCase())} autoFocus autoComplete="off" />
        </div>
        {error ? <p role="alert" className="error">{error}</p> : null}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Adding…' : 'Add contact'}
        </button>
      </form>
    </Dialog>
  );
}
