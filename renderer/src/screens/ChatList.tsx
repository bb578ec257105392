import type { ConversationSummary } from '../../../shared/api.ts';
import { Avatar } from '../components/Avatar.tsx';
import { formatTime } from '../logic.ts';

/** Conversations, newest first, with unread counts. Arrow keys move between entries. */
export function ChatList({
  conversations,
  selectedId,
  onSelect,
}: {
  conversations: readonly ConversationSummary[];
  selectedId: string | null;
  onSelect: (id: string) => void;
}) {
  if (conversations.length === 0) return <p className="empty">No conversations yet. Add a contact to start one.</p>;
  return (
    <ul className="chat-list" aria-label="Conversations">
      {conversations.map((c, index) => {
        const name = `${c.title}${c.unread > 0 ? `, ${c.unread} unread` : ''}${c.identityChanged ? ', safety number changed' : ''}`;
        return (
          <li key={c.id} className={c.id === selectedId ? 'chat-item selected' : 'chat-item'}>
            <button
              type="button"
              className={c.id === selectedId ? 'chat-entry selected' : 'chat-entry'}
              aria-current={c.id === selectedId ? 'true' : undefined}
              aria-label={name}
              // The preview, time and count sit beside the button (it covers the row) as its
              // description: inside it, their text would not match the name (WCAG 2.5.3).
              aria-describedby={c.lastMessage ? `chat-preview-${index}` : undefined}
              onClick={() => onSelect(c.id)}
              onKeyDown={(e) => {
                if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
                e.preventDefault();
                const items = [...(e.currentTarget.closest('ul')?.querySelectorAll<HTMLButtonElement>('button.chat-entry') ?? [])];
                const next = items[items.indexOf(e.currentTarget) + (e.key === 'ArrowDown' ? 1 : -1)];
                next?.focus();
              }}
            >
              <Avatar contactId={c.contactId} name={c.title} />
              <span className="chat-title">
                {c.title}
                {c.verified ? <span className="badge verified" aria-hidden="true">✓</span> : null}
                {c.identityChanged ? <span className="badge warn" aria-hidden="true">!</span> : null}
              </span>
            </button>
            <span className="chat-preview" id={`chat-preview-${index}`} aria-hidden="true">
              {c.lastMessage ? `${c.lastMessage.direction === 'out' ? 'You: ' : ''}${c.lastMessage.text}` : ''}
            </span>
            <span className="chat-meta" aria-hidden="true">
              {c.lastMessage ? <time>{formatTime(c.lastMessage.sentAt)}</time> : null}
              {c.unread > 0 ? <span className="unread">{c.unread}</span> : null}
            </span>
          </li>
        );
      })}
    </ul>
  );
}
