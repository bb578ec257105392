import { useState, type FormEvent } from 'react';
import { HANDLE_PATTERN, type Contact } from '../../../shared/api.ts';
import { useApi } from '../api.ts';
import { useFormAction } from '../form-action.ts';
import { Dialog } from '../components/Dialog.tsx';

export function NewContact({ onClose, onAdded }: { onClose: () => void; onAdded: (contact: Contact) => void }) {
  const api = useApi();
  const [handle, setHandle] = useState('');
  const { busy, error, setError, attempt } = useFormAction();
  async function submit(e: FormEvent) {
    e.preventDefault();
    setError('');
    if (!HANDLE_PATTERN.test(handle)) return setError('A handle is 3 to 32 lowercase letters, digits or underscores.');
    await attempt(async () => {
      onAdded(await api.contactAdd({ handle }));
    });
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
