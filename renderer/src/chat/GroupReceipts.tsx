// Receipts of an own group message (docs/ui.md "Groups"): the "Read by 2 of 3" button under the
// bubble and its details, each member with when it reached them and when they read it.
import { useEffect, useState } from 'react';
import type { GroupMessage, GroupReceiptDetails } from '../../../shared/api.ts';
import { errorText, useApi } from '../api.ts';
import { Dialog } from '../components/Dialog.tsx';
import { formatTime } from '../logic.ts';
import { groupReceiptLabel } from './group-list.ts';

/** The state line of an own message: a button that opens the details once there are receipts to show. */
export function GroupReceiptButton({ message, onOpen }: { message: GroupMessage; onOpen: (m: GroupMessage) => void }) {
  const label = groupReceiptLabel(message);
  if (!message.receipts) return <span className={`delivery state-${message.state}`}> · {label}</span>;
  return (
    <>
      {' · '}
      <button type="button" className={`link-button delivery state-${message.state}`} aria-haspopup="dialog" onClick={() => onOpen(message)}>
        {label}
      </button>
    </>
  );
}

export function GroupReceiptsDialog({
  groupId,
  message,
  name,
  onClose,
}: {
  groupId: string;
  message: GroupMessage;
  /** How a member is named (nickname, or @handle). */
  name: (handle: string) => string;
  onClose: () => void;
}) {
  const api = useApi();
  const [details, setDetails] = useState<GroupReceiptDetails | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    let live = true;
    const load = () =>
      api.groupReceipts({ groupId, messageId: message.id }).then(
        (d) => live && setDetails(d),
        (err: unknown) => live && setError(errorText(err)),
      );
    void load();
    // A receipt arriving while the details are open shows at once.
    const off = api.on('group', (g) => {
      if (g.groupId === groupId) void load();
    });
    return () => {
      live = false;
      off();
    };
  }, [api, groupId, message.id]);
  const members = details?.members ?? [];
  const read = members.filter((m) => m.readAt !== undefined).length;
  return (
    <Dialog title="Message receipts" onClose={onClose}>
      <p className="receipts-quote">{message.text.slice(0, 200)}</p>
      {details ? (
        <>
          <h3 id="receipts-members-title">
            Read by {read} of {members.length}
          </h3>
          <ul className="group-member-list receipts-list" aria-labelledby="receipts-members-title">
            {members.map((m) => (
              <li key={m.handle} className="group-member">
                <span className="member-name">{name(m.handle)}</span>
                <span className="receipt-state">
                  {m.readAt !== undefined ? (
                    <>
                      Read <time dateTime={new Date(m.readAt).toISOString()}>{formatTime(m.readAt)}</time>
                    </>
                  ) : m.deliveredAt !== undefined ? (
                    <>
                      Delivered <time dateTime={new Date(m.deliveredAt).toISOString()}>{formatTime(m.deliveredAt)}</time>
                    </>
                  ) : (
                    'Not delivered yet'
                  )}
                </span>
              </li>
            ))}
          </ul>
        </>
      ) : error ? null : (
        <p className="hint">Loading…</p>
      )}
      {error ? <p role="alert" className="error">{error}</p> : null}
    </Dialog>
  );
}
