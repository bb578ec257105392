// A group of a backup opened read-only (docs/ui.md "Opened backups"): its name, the members its
// signed log states (or that the log does not verify), and its messages in file order with each
// author's name on the bubble, replies' quotes, tombstones, membership lines, files and own texts' receipts. No
// composer and no message actions: nothing here can change the backup or reach anyone.
import { useCallback, useEffect, useRef, useState } from 'react';
import type { Attachment, GroupActivity, GroupInfo, OpenedBackupGroup, OpenedGroupMessage } from '../../../shared/api.ts';
import { errorText, useApi } from '../api.ts';
import { Avatar } from '../components/Avatar.tsx';
import { AttachmentCard } from '../components/Attachments.tsx';
import { TombstoneBubble } from '../components/DeleteForEveryone.tsx';
import { groupReceiptLabel } from '../chat/group-list.ts';
import { formatTime } from '../logic.ts';
import { withOlderOf, type OlderWindow } from '../chat/history-window.ts';
import '../groups.css';

const PAGE = 200;

/**
 * The chat list's entry of an opened group, in the shapes the one list takes (chat/group-list.ts):
 * it is read-only, so nobody "left" and nothing is unread; `revision` and `creator` are not shown there.
 */
export function openedGroupEntry(g: OpenedBackupGroup): { group: GroupInfo; activity: GroupActivity } {
  const last = g.lastMessage;
  return {
    group: { groupId: g.groupId, conversationId: g.conversationId, name: g.name, creator: g.creator ?? '', members: g.members, admins: g.admins, revision: 1, isMember: true, membersCanAdd: false },
    activity: {
      groupId: g.groupId,
      conversationId: g.conversationId,
      lastActivity: g.lastActivity,
      unread: 0,
      // An author the file does not name by handle is previewed as a line of its own.
      lastMessage: last ? { ...last, sender: last.sender ?? '', ...(last.sender === null && last.direction === 'in' ? { system: true as const } : {}) } : null,
    },
  };
}

export function OpenedGroupChat({ group, backupId, focusMessageId = null }: { group: OpenedBackupGroup; backupId: string; focusMessageId?: string | null }) {
  const api = useApi();
  // Messages and "older ones exist" change together; each page is put before the window as it is when it lands.
  const [win, setWin] = useState<OlderWindow<OpenedGroupMessage>>({ messages: [], hasOlder: false });
  const { messages, hasOlder } = win;
  const [files, setFiles] = useState(() => new Map<string, Attachment>());
  const [error, setError] = useState('');
  const asked = useRef(new Set<string>());
  const logRef = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const anchor = focusMessageId ? { kind: 'around' as const, messageId: focusMessageId } : { kind: 'newest' as const };
    let live = true;
    api.backupGroupHistory({ backupId, groupId: group.groupId, anchor, limit: PAGE }).then(
      (page) => {
        if (live) setWin({ messages: page.messages, hasOlder: page.hasOlder });
      },
      (err: unknown) => {
        if (live) setError(errorText(err));
      },
    );
    return () => {
      live = false;
    };
  }, [api, backupId, group.groupId, focusMessageId]);

  // The files the backup lists for the shown texts, asked once per message.
  useEffect(() => {
    const ids = messages.filter((m) => !m.deleted && !m.system && !asked.current.has(m.id)).map((m) => m.id).slice(0, 500);
    if (ids.length === 0) return;
    for (const id of ids) asked.current.add(id);
    api.attachmentsOf({ backupId, messageIds: ids }).then(
      (list) => setFiles((cur) => (list.length === 0 ? cur : new Map([...cur, ...list.map((a): [string, Attachment] => [a.messageId, a])]))),
      () => undefined,
    );
  }, [api, backupId, messages]);

  // Once loaded: the searched-for message in view, else the newest.
  const loaded = messages.length > 0;
  useEffect(() => {
    const el = logRef.current;
    if (!el) return;
    const focused = focusMessageId ? el.querySelector(`[data-message-id="${CSS.escape(focusMessageId)}"]`) : null;
    if (focused) focused.scrollIntoView({ block: 'center' });
    else el.scrollTop = el.scrollHeight;
  }, [loaded, focusMessageId]);

  const loadOlder = useCallback(async () => {
    const first = messages[0];
    if (!first) return;
    try {
      const page = await api.backupGroupHistory({ backupId, groupId: group.groupId, anchor: { kind: 'before', messageId: first.id }, limit: PAGE });
      setWin((w) => withOlderOf(w, first.id, page));
    } catch (err) {
      setError(errorText(err));
    }
  }, [api, backupId, group.groupId, messages]);

  // The quote: the quoted text in view, when it is on the page (as a live group chat's quote).
  const jumpTo = useCallback((id: string) => {
    const el = logRef.current?.querySelector(`[data-message-id="${CSS.escape(id)}"]`);
    el?.scrollIntoView({ block: 'center' });
  }, []);
  const quotedName = (q: NonNullable<OpenedGroupMessage['replyTo']>): string => (q.sender ? `@${q.sender}` : q.direction === 'out' ? 'You' : 'Unknown sender');

  const count = group.logVerified ? `${group.members.length} ${group.members.length === 1 ? 'member' : 'members'}` : 'membership not verified';
  return (
    <section className="chat group-chat" aria-labelledby="chat-title">
      <header className="chat-head">
        <Avatar contactId={group.conversationId} name={group.name} />
        <h2 id="chat-title">
          {group.name}
          <span className="handle"> {count}</span>
        </h2>
      </header>
      <p className="hint opened-group-members">
        {group.logVerified
          ? `Members as this backup states them: ${group.members.map((h) => `@${h}`).join(', ')}`
          : "This group's membership log in the backup does not verify: its members are not shown. Its messages are as the backup holds them."}
      </p>
      <div className="messages group-messages" role="log" aria-label={`Messages in ${group.name}`} tabIndex={0} ref={logRef}>
        {hasOlder ? (
          <button type="button" className="load-older" onClick={() => void loadOlder()}>
            Show older messages
          </button>
        ) : null}
        {messages.map((m) => {
          if (m.deleted) return <TombstoneBubble key={m.id} message={m} />;
          if (m.system) {
            return (
              <p key={m.id} className="system-line" role="note" data-message-id={m.id}>
                {m.text}
              </p>
            );
          }
          const out = m.direction === 'out';
          const file = files.get(m.id);
          const quote = m.replyTo;
          return (
            <div key={m.id} className={`bubble ${out ? 'out' : 'in'}${m.id === focusMessageId ? ' focused' : ''}`} data-message-id={m.id}>
              {out ? null : <p className="sender">{m.sender ? `@${m.sender}` : 'Unknown sender'}</p>}
              {quote ? (
                <button type="button" className="quote" onClick={() => jumpTo(quote.id)} aria-label={`Quoted message from ${quotedName(quote)}: ${quote.text.slice(0, 80)}. Show it`}>
                  <span className="quote-sender">{quotedName(quote)}</span> {quote.text}
                </button>
              ) : quote === null ? (
                <p className="quote missing">Quoted message not available</p>
              ) : null}
              {m.text ? <p className="text">{m.text}</p> : null}
              {file ? <AttachmentCard attachment={{ ...file, backupId }} /> : null}
              <p className="meta">
                <time dateTime={new Date(m.sentAt).toISOString()}>{formatTime(m.sentAt)}</time>
                {out ? <span className="state"> {groupReceiptLabel(m)}</span> : null}
              </p>
            </div>
          );
        })}
      </div>
      {error ? (
        <p role="alert" className="error">
          {error}
        </p>
      ) : null}
    </section>
  );
}
