// One message of a 1:1 chat (screens/Chat.tsx): the quote, the attachment, the text with its
// links (opened only through the confirmation), the actions and the time and delivery state.
import type { Attachment, Message } from '../../../shared/api.ts';
import { AttachmentCard } from '../components/Attachments.tsx';
import { canDeleteForEveryone } from '../components/DeleteForEveryone.tsx';
import { Countdown } from '../components/Disappearing.tsx';
import { LinkedText } from './LinkedText.tsx';
import { DELIVERY_LABELS, formatTime } from '../logic.ts';

export function MessageBubble({
  message,
  attachment,
  now,
  focused,
  readOnly,
  onReply,
  onCopy,
  onDetails,
  onDelete,
  onDeleteForEveryone,
  onJump,
  onLink,
}: {
  message: Message;
  attachment: Attachment | undefined;
  now: number;
  focused: boolean;
  readOnly: boolean;
  onReply: (m: Message) => void;
  onCopy: (m: Message) => void;
  onDetails: (m: Message) => void;
  onDelete: (m: Message) => void;
  onDeleteForEveryone: (m: Message) => void;
  onJump: (id: string) => void;
  onLink: (url: string) => void;
}) {
  const out = message.direction === 'out';
  const state = DELIVERY_LABELS[message.state];
  const quote = message.replyTo;
  return (
    <div className={`bubble ${out ? 'out' : 'in'}${focused ? ' focused' : ''}${message.state === 'failed' ? ' failed' : ''}`} data-message-id={message.id}>
      {quote ? (
        <button type="button" className="quote" onClick={() => onJump(quote.id)} aria-label={`Quoted message: ${quote.text.slice(0, 80)}. Show it`}>
          {quote.text}
        </button>
      ) : quote === null ? (
        <p className="quote missing">Quoted message not available</p>
      ) : null}
      {attachment ? <AttachmentCard attachment={attachment} /> : null}
      <LinkedText text={message.text} onLink={onLink} />
      <div className="message-actions">
        {readOnly ? null : (
          <button type="button" onClick={() => onReply(message)}>
            Reply
          </button>
        )}
        <button type="button" onClick={() => onCopy(message)}>
          Copy
        </button>
        <button type="button" onClick={() => onDetails(message)}>
          Details
        </button>
        {readOnly ? null : (
          <button type="button" onClick={() => onDelete(message)}>
            Delete for me
          </button>
        )}
        {!readOnly && canDeleteForEveryone(message, Date.now()) ? (
          <button type="button" onClick={() => onDeleteForEveryone(message)}>
            Delete for everyone
          </button>
        ) : null}
      </div>
      <p className="meta">
        <time dateTime={new Date(message.sentAt).toISOString()}>{formatTime(message.sentAt)}</time>
        {out ? <span className={`delivery state-${message.state}`}> · {state}</span> : null}
        <Countdown message={message} now={now} />
      </p>
    </div>
  );
}
