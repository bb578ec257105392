import { useState, type FormEvent } from 'react';
import { MAX_NICKNAME_CHARS, type Contact } from '../../../shared/api.ts';
import { useApi, errorText } from '../api.ts';
import { Dialog } from '../components/Dialog.tsx';

/** A local name for a contact; the handle stays visible here and wherever identity matters. */
export function NicknameDialog({ contact, onClose }: { contact: Contact; onClose: () => void }) {
  const api = useApi();
  const [name, setName] = useState(contact.displayName === contact.handle ? '' : contact.displayName);
  const [error, setError] = useState('');
  async function submit(e: FormEvent) {
    e.preventDefault();
    try {
      await api.setNickname({ contactId: contact.id, nickname: name });
      onClose();
    } catch (err) {
      setError(errorText(err));
    }
  }
  return (
    <Dialog title={`Nickname for @${contact.handle}`} onClose={onClose}>
      <form onSubmit={(e) => void submit(e)}>
        <div className="field">
          <label htmlFor="nickname">Nickname (only on this device; empty shows the handle)</label>
          <input id="nickname" value={name} maxLength={MAX_NICKNAME_CHARS} onChange={(e) => setName(e.target.value)} autoFocus autoComplete="off" />
        </div>
        {error ? <p role="alert" className="error">{error}</p> : null}
        <button type="submit" className="primary">
          Save nickname
        </button>
      </form>
    </Dialog>
  );
}
