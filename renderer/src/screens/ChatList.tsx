import { Avatar } from '../components/Avatar.tsx';
import type { ChatEntry } from '../chat/group-list.ts';
import { chatPreview } from '../chat/preview.ts';
import { formatTime } from '../logic.ts';

/** Conversations and groups, newest activity first, with unread counts. Arrow keys move between entries. */
export function ChatList({
  entries,
  selectedId,
  onSelect,
  memberName = (h) => `@${h}`,
}: {
  entries: readonly ChatEntry[];
  selectedId: string | null;
  onSelect: (id: string) => void;
  /** How a group member is named in a preview. */
  memberName?: (handle: string) => string;
}) {
  if (entries.length === 0) return <p className="empty">No conversations yet. Add a contact to start one.</p>;
  return (
    <ul className="chat-list" aria-label="Conversations">
      {entries.map((e, index) => {
        const c = e.kind === 'direct' ? e.conversation : null;
        const g = e.kind === 'group' ? e.group : null;
        const title = c ? c.title : g!.name;
        const unread = e.unread > 0 ? `, ${e.unread} unread` : '';
        const name = c
          ? `${c.title}${unread}${c.identityChanged ? ', safety number changed' : ''}`
          : `${g!.name}, group of ${g!.members.length}${g!.isMember ? '' : ', left'}${unread}`;
        const last = c ? c.lastMessage : e.kind === 'group' ? e.activity?.lastMessage ?? null : null;
        const preview = chatPreview(e, memberName);
        const selected = e.id === selectedId;
        return (
          <li key={e.id} className={selected ? 'chat-item selected' : 'chat-item'}>
            <button
              type="button"
              className={selected ? 'chat-entry selected' : 'chat-entry'}
              aria-current={selected ? 'true' : undefined}
              aria-label={name}
              // The preview, time and count sit beside the button (it covers the row) as its
              // description: inside it, their text would not match the name (WCAG 2.5.3).
              aria-describedby={preview ? `chat-preview-${index}` : undefined}
              onClick={() => onSelect(e.id)}
              onKeyDown={(ev) => {
                if (ev.key !== 'ArrowDown' && ev.key !== 'ArrowUp') return;
                ev.preventDefault();
                const items = [...(ev.currentTarget.closest('ul')?.querySelectorAll<HTMLButtonElement>('button.chat-entry') ?? [])];
                const next = items[items.indexOf(ev.currentTarget) + (ev.key === 'ArrowDown' ? 1 : -1)];
                next?.focus();
              }}
            >
              <Avatar contactId={c ? c.contactId : g!.conversationId} name={title} />
              <span className="chat-title">
                {title}
                {c?.verified ? <span className="badge verified" aria-hidden="true">✓</span> : null}
                {c?.identityChanged ? <span className="badge warn" aria-hidden="true">!</span> : null}
              </span>
            </button>
            <span className="chat-preview" id={`chat-preview-${index}`} aria-hidden="true">
              {preview}
            </span>
            <span className="chat-meta" aria-hidden="true">
              {last ? <time>{formatTime(last.sentAt)}</time> : null}
              {e.unread > 0 ? <span className="unread">{e.unread}</span> : null}
            </span>
          </li>
        );
      })}
    </ul>
  );
}
