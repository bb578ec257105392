// One text or file of a group chat (screens/GroupChat.tsx), with the actions a 1:1 bubble has
// (chat/MessageBubble.tsx): the quote it replies to (a button showing the quoted text), links
// behind the confirmation, Reply while still a member, Copy, Delete for me, and on own texts
// sent less than 24 h ago while still a member, Delete for everyone. Each is a real button in the bubble, so Tab and Enter reach
// it as in a 1:1 chat. The deletes ask first (useGroupDelete) and go through the contract's
// deleteMessage with the group's conversation id; main then announces the group, which reloads.
import { useState, type ReactNode } from 'react';
import type { GroupMessage } from '../../../shared/api.ts';
import { errorText, useApi } from '../api.ts';
import { AttachmentCard, type ShownAttachment } from '../components/Attachments.tsx';
import { canDeleteForEveryone } from '../components/DeleteForEveryone.tsx';
import { Countdown } from '../components/Disappearing.tsx';
import { Dialog } from '../components/Dialog.tsx';
import { formatTime } from '../logic.ts';
import { GroupReceiptButton } from './GroupReceipts.tsx';
import { LinkedText } from './LinkedText.tsx';

export function GroupBubble({
  message,
  attachment,
  senderName,
  now,
  focused = false,
  isMember,
  quotedName,
  onReply,
  onJump,
  onCopy,
  onDelete,
  onDeleteForEveryone,
  onReceipts,
  onLink,
}: {
  message: GroupMessage;
  /** The message's file (its text is then the caption), shown as in a 1:1 chat: a card, an image's preview. */
  attachment: ShownAttachment | undefined;
  /** The author as the page names them (nickname or @handle); shown on incoming texts. */
  senderName: string;
  now: number;
  /** A search hit opened here: outlined. */
  focused?: boolean;
  /** A member who left or was removed can no longer tell the others anything. */
  isMember: boolean;
  /** A quoted text's author as the page names them. */
  quotedName: (handle: string) => string;
  onReply: (m: GroupMessage) => void;
  /** The quote: scroll to the quoted text. */
  onJump: (id: string) => void;
  onCopy: (m: GroupMessage) => void;
  onDelete: (m: GroupMessage) => void;
  onDeleteForEveryone: (m: GroupMessage) => void;
  onReceipts: (m: GroupMessage) => void;
  /** A link in the text: shown in full first, as in 1:1 chats. */
  onLink: (url: string) => void;
}) {
  const out = message.direction === 'out';
  const quote = message.replyTo;
  return (
    <div className={`bubble ${out ? 'out' : 'in'}${focused ? ' focused' : ''}${message.state === 'failed' ? ' failed' : ''}`} data-message-id={message.id}>
      {out ? null : <p className="sender">{senderName}</p>}
      {quote ? (
        <button type="button" className="quote" onClick={() => onJump(quote.id)} aria-label={`Quoted message from ${quotedName(quote.sender)}: ${quote.text.slice(0, 80)}. Show it`}>
          <span className="quote-sender">{quotedName(quote.sender)}</span> {quote.text}
        </button>
      ) : quote === null ? (
        <p className="quote missing">Quoted message not available</p>
      ) : null}
      {attachment ? <AttachmentCard attachment={attachment} /> : null}
      <LinkedText text={message.text} onLink={onLink} />
      <div className="message-actions">
        {isMember ? (
          <button type="button" onClick={() => onReply(message)}>
            Reply
          </button>
        ) : null}
        <button type="button" onClick={() => onCopy(message)}>
          Copy
        </button>
        <button type="button" onClick={() => onDelete(message)}>
          Delete for me
        </button>
        {isMember && canDeleteForEveryone(message, Date.now()) ? (
          <button type="button" onClick={() => onDeleteForEveryone(message)}>
            Delete for everyone
          </button>
        ) : null}
      </div>
      <p className="meta">
        <time dateTime={new Date(message.sentAt).toISOString()}>{formatTime(message.sentAt)}</time>
        {out ? <GroupReceiptButton message={message} onOpen={onReceipts} /> : null}
        <Countdown message={message} now={now} />
      </p>
    </div>
  );
}

type Ask = { message: GroupMessage; forEveryone: boolean };

/**
 * The group chat's deletes: `ask(m, forEveryone)` opens the confirmation (`dialog`, rendered by
 * the chat); on confirm the page shows the result at once (gone, or a tombstone) and main's
 * `group` event reloads the chat as for any change.
 */
export function useGroupDelete(
  conversationId: string,
  groupName: string,
  apply: (m: GroupMessage, forEveryone: boolean) => void,
  report: (notice: string, error: string) => void,
): { ask: (m: GroupMessage, forEveryone: boolean) => void; dialog: ReactNode } {
  const api = useApi();
  const [target, setTarget] = useState<Ask | null>(null);
  async function confirm({ message, forEveryone }: Ask) {
    setTarget(null);
    try {
      await api.deleteMessage({ conversationId, messageId: message.id, ...(forEveryone ? { forEveryone: true } : {}) });
      apply(message, forEveryone);
      report(forEveryone ? `Deleted the message for everyone. The members of ${groupName} see "This message was deleted".` : 'Deleted the message from this device.', '');
    } catch (err) {
      report('', errorText(err));
    }
  }
  const close = () => setTarget(null);
  const dialog = !target ? null : target.forEveryone ? (
    <Dialog title="Delete this message for everyone?" onClose={close}>
      <p>It is erased from this device and replaced by "This message was deleted" for every member of {groupName} too. This cannot be undone.</p>
      <div className="dialog-actions">
        <button type="button" className="primary" onClick={() => void confirm(target)}>
          Delete for everyone
        </button>
        <button type="button" onClick={close}>
          Cancel
        </button>
      </div>
    </Dialog>
  ) : (
    <Dialog title="Delete this message for you?" onClose={close}>
      <p>It is erased from this device and cannot be brought back. The other members of {groupName} keep their copies.</p>
      <div className="dialog-actions">
        <button type="button" className="primary" onClick={() => void confirm(target)}>
          Delete for me
        </button>
        <button type="button" onClick={close}>
          Cancel
        </button>
      </div>
    </Dialog>
  );
  return { ask: (message, forEveryone) => setTarget({ message, forEveryone }), dialog };
}
