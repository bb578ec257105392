import { useEffect, useState } from 'react';
import type { Message, MessageDetails } from '../../../shared/api.ts';
import { useApi, errorText } from '../api.ts';
import { Dialog } from '../components/Dialog.tsx';
import { DELIVERY_LABELS } from '../logic.ts';

const when = (ms: number | null | undefined): string => (ms === null || ms === undefined ? '—' : new Date(ms).toLocaleString());

/** Sent / received / delivered / read times of one message. */
export function MessageDetailsDialog({ message, backupId, onClose }: { message: Message; backupId: string | null; onClose: () => void }) {
  const api = useApi();
  const [details, setDetails] = useState<MessageDetails | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    // A read-only backup keeps no delivery times: only what the message itself carries.
    if (backupId) return;
    let open = true;
    const fetch = () =>
      api.messageDetails({ messageId: message.id }).then(
        (d) => open && setDetails(d),
        (err: unknown) => open && setError(errorText(err)),
      );
    void fetch();
    // A receipt that arrives while the dialog is open moves the state: show its time too.
    const off = api.on('messageState', (s) => {
      if (s.id === message.id) void fetch();
    });
    return () => {
      open = false;
      off();
    };
  }, [api, message.id, backupId]);
  const out = message.direction === 'out';
  return (
    <Dialog title="Message details" onClose={onClose}>
      <dl className="details">
        <dt>{out ? 'Sent' : 'Sent (their clock)'}</dt>
        <dd>{when(message.sentAt)}</dd>
        {out ? null : (
          <>
            <dt>Received</dt>
            <dd>{when(message.receivedAt)}</dd>
          </>
        )}
        {out ? (
          <>
            <dt>Delivered</dt>
            <dd>{when(details?.deliveredAt)}</dd>
          </>
        ) : null}
        <dt>{out ? 'Read by them' : 'Read by you'}</dt>
        <dd>{when(details?.readAt)}</dd>
        <dt>State</dt>
        <dd>{DELIVERY_LABELS[details?.state ?? message.state]}</dd>
      </dl>
      {error ? <p role="alert" className="error">{error}</p> : null}
    </Dialog>
  );
}

/**
 * A link is never followed from the message itself: this shows the full address first. Opening
 * goes through window.open with noopener (browser mode: a new tab that cannot reach this one;
 * the Electron shell hands it to the system browser only if its external-link allowlist allows).
 */
export function LinkDialog({ url, onClose }: { url: string; onClose: () => void }) {
  return (
    <Dialog title="Open this link?" onClose={onClose}>
      <p>The link goes to:</p>
      <p className="link-url">
        <code>{url}</code>
      </p>
      <p className="hint">Check the whole address before opening it. Links can pretend to be something they are not.</p>
      <div className="dialog-actions">
        <button
          type="button"
          className="primary"
          onClick={() => {
            window.open(url, '_blank', 'noopener,noreferrer');
            onClose();
          }}
        >
          Open link
        </button>
        <button type="button" onClick={onClose}>
          Cancel
        </button>
      </div>
    </Dialog>
  );
}

/** "Delete for me" asks first: the message leaves this device for good; the contact keeps theirs. */
export function DeleteMessageDialog({ contact, onConfirm, onClose }: { contact: string; onConfirm: () => void; onClose: () => void }) {
  return (
    <Dialog title="Delete this message for you?" onClose={onClose}>
      <p>It is erased from this device and cannot be brought back. {contact} keeps their copy.</p>
      <div className="dialog-actions">
        <button type="button" className="primary" onClick={onConfirm}>
          Delete for me
        </button>
        <button type="button" onClick={onClose}>
          Cancel
        </button>
      </div>
    </Dialog>
  );
}
