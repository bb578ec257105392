import { useCallback, useEffect, useLayoutEffect, useRef, useState, type FormEvent, type KeyboardEvent, type MouseEvent } from 'react';
import { useVirtualizer } from '@tanstack/react-virtual';
import { MAX_TEXT_CHARS, type Attachment, type ConversationSummary, type HistoryAnchor, type Message } from '../../../shared/api.ts';
import { useApi, errorText } from '../api.ts';
import { Avatar } from '../components/Avatar.tsx';
import { AttachButton, AttachmentCard, UploadList, useAttachmentUpload, useAttachmentsOf } from '../components/Attachments.tsx';
import { firstUnreadId, splitLinks } from '../daily.ts';
import { buildTimeline, DELIVERY_LABELS, formatTime, mergeMessages, type TimelineRow } from '../logic.ts';
import { DeleteMessageDialog, LinkDialog, MessageDetailsDialog } from './MessageDialogs.tsx';
import { Countdown, notExpired, TimerLine, TimerMenu, useNow } from '../components/Disappearing.tsx';
import { canDeleteForEveryone, TombstoneBubble, useDeleteForEveryone } from '../components/DeleteForEveryone.tsx';

type Row = TimelineRow | { kind: 'unread'; key: string };
/** How long the composer waits after the last keystroke before sealing the draft. */
const DRAFT_SAVE_MS = 400;
/**
 * Drafts of this session in page memory, so switching back to a chat shows its draft even before
 * main has sealed the latest keystrokes. Cleared when the messenger closes (lock).
 */
const sessionDrafts = new Map<string, string>();
export function forgetSessionDrafts(): void {
  sessionDrafts.clear();
}

const PAGE = 100;
/** Keep at most this many messages in memory; the list pages in both directions. */
const WINDOW = 1500;

export function Chat({
  conversation,
  backupId,
  focusMessageId: focusFromParent,
  handle = null,
  onShowSafetyNumber,
  onRename,
}: {
  conversation: ConversationSummary;
  backupId: string | null;
  focusMessageId: string | null;
  /** The contact's handle, shown next to a nickname. */
  handle?: string | null;
  onShowSafetyNumber: () => void;
  onRename?: () => void;
}) {
  const api = useApi();
  const [messages, setMessages] = useState<Message[]>([]);
  const [hasOlder, setHasOlder] = useState(false);
  const [hasNewer, setHasNewer] = useState(false);
  const [error, setError] = useState('');
  const [draft, setDraft] = useState('');
  // A quoted message outside the loaded window is loaded around (like a search hit).
  const [focusMessageId, setFocusMessageId] = useState(focusFromParent);
  const [highlight, setHighlight] = useState<string | null>(focusFromParent);
  useEffect(() => {
    // A search hit in the chat already open: load around it and highlight it.
    setFocusMessageId(focusFromParent);
    setHighlight(focusFromParent);
  }, [focusFromParent]);
  /** Where the "New messages" divider sits: fixed when the chat opens, so reading does not move it. */
  const [unreadFrom, setUnreadFrom] = useState<string | null>(null);
  const [jumped, setJumped] = useState(false);
  const [replyTo, setReplyTo] = useState<Message | null>(null);
  const [details, setDetails] = useState<Message | null>(null);
  const [toDelete, setToDelete] = useState<Message | null>(null);
  const [linkUrl, setLinkUrl] = useState<string | null>(null);
  const [notice, setNotice] = useState('');
  const composerRef = useRef<HTMLTextAreaElement>(null);
  const unreadAtOpen = useRef(conversation.unread);
  const loading = useRef(false);
  const hasNewerRef = useRef(false);
  hasNewerRef.current = hasNewer;
  const scrollRef = useRef<HTMLDivElement>(null);
  const pendingScroll = useRef<{ kind: 'bottom' } | { kind: 'id'; id: string } | { kind: 'keep'; id: string } | null>(null);
  const source = backupId ? { backupId } : {};
  const conversationId = conversation.id;
  const onFileSent = useCallback((m: Message) => setMessages((cur) => mergeMessages(cur, [m])), []);
  const files = useAttachmentUpload(conversationId, onFileSent, setError);
  const attachments = useAttachmentsOf(messages);
  const forEveryone = useDeleteForEveryone(conversationId, conversation.title, setMessages, (n, e) => (setNotice(n), setError(e)));

  const load = useCallback(
    async (anchor: HistoryAnchor) => {
      try {
        const page = await api.historyPage({ conversationId, anchor, limit: PAGE, ...source });
        setError('');
        return page;
      } catch (err) {
        setError(errorText(err));
        return undefined;
      }
    },
    [api, conversationId, backupId],
  );

  // (Re)load when the conversation or the focused message changes.
  useEffect(() => {
    let alive = true;
    setMessages([]);
    void load(focusMessageId ? { kind: 'around', messageId: focusMessageId } : { kind: 'newest' }).then((page) => {
      if (!alive || !page) return;
      pendingScroll.current = focusMessageId ? { kind: 'id', id: focusMessageId } : { kind: 'bottom' };
      if (unreadAtOpen.current > 0) {
        const first = firstUnreadId(page.messages);
        if (first) setUnreadFrom((cur) => cur ?? first);
      }
      setMessages(page.messages);
      setHasOlder(page.hasOlder);
      setHasNewer(page.hasNewer);
    });
    return () => {
      alive = false;
    };
  }, [load, focusMessageId]);

  // Live updates (not for a read-only backup).
  useEffect(() => {
    if (backupId) return;
    const offMessage = api.on('message', (m) => {
      if (m.conversationId !== conversationId) return;
      // While a later part of history is not loaded, the new message arrives with that part.
      if (hasNewerRef.current) return;
      const el = scrollRef.current;
      const atBottom = !el || el.scrollHeight - el.scrollTop - el.clientHeight < 80;
      if (atBottom || m.direction === 'out') pendingScroll.current = { kind: 'bottom' };
      setMessages((cur) => mergeMessages(cur, [m]));
    });
    const offState = api.on('messageState', (s) => {
      if (s.conversationId !== conversationId) return;
      setMessages((cur) => cur.map((m) => (m.id === s.id ? { ...m, state: s.state } : m)));
    });
    const offDeleted = api.on('messagesDeleted', (d) => {
      if (d.conversationId !== conversationId) return;
      const gone = new Set(d.messageIds);
      setMessages((cur) => (d.all ? [] : cur.filter((m) => !gone.has(m.id))));
      setReplyTo((r) => (r && (d.all || gone.has(r.id)) ? null : r));
    });
    return () => {
      offMessage();
      offState();
      offDeleted();
    };
  }, [api, conversationId, backupId]);

  // Drafts are sealed in the vault by main (never localStorage): loaded when the chat opens, saved
  // shortly after typing stops and when the chat closes.
  const draftRef = useRef({ text: '', saved: '' });
  useEffect(() => {
    if (backupId) return;
    let alive = true;
    const cached = sessionDrafts.get(conversationId);
    if (cached !== undefined) {
      draftRef.current = { text: cached, saved: draftRef.current.saved };
      setDraft(cached);
    } else
    api.getDraft({ conversationId }).then(
      ({ text }) => {
        if (!alive || text === '') return;
        draftRef.current = { text, saved: text };
        setDraft((cur) => (cur === '' ? text : cur));
      },
      () => undefined,
    );
    return () => {
      alive = false;
      const { text, saved } = draftRef.current;
      if (text !== saved) void api.setDraft({ conversationId, text }).catch(() => undefined);
    };
  }, [api, conversationId, backupId]);
  useEffect(() => {
    if (backupId) return;
    draftRef.current.text = draft;
    if (draft === draftRef.current.saved) return;
    const timer = setTimeout(() => {
      draftRef.current.saved = draft;
      void api.setDraft({ conversationId, text: draft }).catch(() => undefined);
    }, DRAFT_SAVE_MS);
    return () => clearTimeout(timer);
  }, [api, conversationId, backupId, draft]);

  // Messages with a timer count down on the page's clock and are not shown once expired.
  const now = useNow(messages.some((m) => typeof m.expiresAt === 'number'));
  const rows: Row[] = buildTimeline(notExpired(messages, now));
  const unreadIndex = unreadFrom ? rows.findIndex((r) => r.kind === 'message' && r.message.id === unreadFrom) : -1;
  if (unreadIndex >= 0) rows.splice(unreadIndex, 0, { kind: 'unread', key: `unread-${unreadFrom}` });
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: (i) => (rows[i]?.kind === 'message' ? 64 : 36),
    getItemKey: (i) => rows[i]?.key ?? i,
    overscan: 12,
  });

  useLayoutEffect(() => {
    const target = pendingScroll.current;
    if (!target || rows.length === 0) return;
    pendingScroll.current = null;
    if (target.kind === 'bottom') virtualizer.scrollToIndex(rows.length - 1, { align: 'end' });
    else {
      const index = rows.findIndex((r) => r.kind === 'message' && r.message.id === target.id);
      if (index >= 0) virtualizer.scrollToIndex(index, { align: target.kind === 'id' ? 'center' : 'start' });
    }
  });

  // Mark read when the newest incoming message is on screen.
  const newestIncoming = [...messages].reverse().find((m) => m.direction === 'in');
  useEffect(() => {
    if (backupId || !newestIncoming || conversation.unread === 0 || hasNewer) return;
    void api.markRead({ conversationId, upToMessageId: newestIncoming.id }).catch(() => undefined);
  }, [api, backupId, conversationId, newestIncoming?.id, conversation.unread, hasNewer]);

  async function onScroll() {
    if (loading.current) return;
    loading.current = true;
    try {
      await loadMore();
    } finally {
      loading.current = false;
    }
  }

  async function loadMore() {
    const el = scrollRef.current;
    if (!el || messages.length === 0) return;
    if (el.scrollTop < 300 && hasOlder) {
      const first = messages[0]!;
      const page = await load({ kind: 'before', messageId: first.id });
      if (!page) return;
      pendingScroll.current = { kind: 'keep', id: first.id };
      setMessages((cur) => mergeMessages(page.messages, cur).slice(0, WINDOW));
      setHasOlder(page.hasOlder);
      if (messages.length + page.messages.length > WINDOW) setHasNewer(true);
    } else if (el.scrollHeight - el.scrollTop - el.clientHeight < 300 && hasNewer) {
      const last = messages[messages.length - 1]!;
      const page = await load({ kind: 'after', messageId: last.id });
      if (!page) return;
      setMessages((cur) => {
        const merged = mergeMessages(cur, page.messages);
        return merged.length > WINDOW ? merged.slice(merged.length - WINDOW) : merged;
      });
      setHasNewer(page.hasNewer);
      if (messages.length + page.messages.length > WINDOW) setHasOlder(true);
    }
  }

  async function send(e?: FormEvent) {
    e?.preventDefault();
    const text = draft.trim();
    if (!text) return;
    try {
      const sent = await api.sendText({ conversationId, text, ...(replyTo ? { replyTo: replyTo.id } : {}) });
      setDraft('');
      sessionDrafts.delete(conversationId);
      setReplyTo(null);
      draftRef.current = { text: '', saved: '' };
      void api.setDraft({ conversationId, text: '' }).catch(() => undefined);
      setError('');
      pendingScroll.current = { kind: 'bottom' };
      setMessages((cur) => (hasNewer ? cur : mergeMessages(cur, [sent])));
    } catch (err) {
      setError(errorText(err));
    }
  }

  function onComposerKey(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      void send();
    }
  }

  /** Scrolls to a message (a quote's original): in the window, or loaded around it. */
  function jumpTo(id: string) {
    setHighlight(id);
    const index = rows.findIndex((r) => r.kind === 'message' && r.message.id === id);
    if (index >= 0) virtualizer.scrollToIndex(index, { align: 'center' });
    else setFocusMessageId(id);
  }

  function jumpToUnread() {
    setJumped(true);
    if (unreadIndex >= 0) virtualizer.scrollToIndex(unreadIndex, { align: 'start' });
  }

  /** "Delete for me", after the dialog's confirmation; the messagesDeleted event updates the list. */
  async function deleteForMe(m: Message) {
    setToDelete(null);
    try {
      await api.deleteMessage({ conversationId, messageId: m.id });
      setMessages((cur) => cur.filter((x) => x.id !== m.id));
      setNotice('Deleted the message from this device.');
      setError('');
    } catch (err) {
      setError(errorText(err));
    }
  }

  function startReply(m: Message) {
    setReplyTo(m);
    composerRef.current?.focus();
  }

  async function copy(m: Message) {
    try {
      await navigator.clipboard.writeText(m.text);
      setNotice('Copied the message text.');
    } catch {
      setNotice('Could not copy: the clipboard is not available.');
    }
  }

  const held = conversation.identityChanged;
  const nicknamed = handle !== null && handle !== conversation.title;
  return (
    <section
      className="chat"
      aria-labelledby="chat-title"
      onDragOver={(e) => {
        if (!backupId && e.dataTransfer.types.includes('Files')) e.preventDefault();
      }}
      onDrop={(e) => {
        if (backupId || e.dataTransfer.files.length === 0) return;
        e.preventDefault();
        files.sendFiles(Array.from(e.dataTransfer.files));
      }}
    >
      <header className="chat-head">
        <Avatar contactId={conversation.contactId} name={conversation.title} />
        <h2 id="chat-title">
          {conversation.title}
          {nicknamed ? <span className="handle"> @{handle}</span> : null}
          {conversation.verified ? <span className="badge verified" title="Safety number verified"> ✓ verified</span> : null}
        </h2>
        {onRename && !backupId ? (
          <button type="button" onClick={onRename}>
            Nickname
          </button>
        ) : null}
        {backupId ? null : <TimerMenu conversationId={conversationId} seconds={conversation.timerSeconds ?? 0} onError={setError} />}
        <button type="button" onClick={onShowSafetyNumber}>
          Safety number
        </button>
      </header>
      {held ? (
        <div className="banner warn" role="alert">
          <span>{conversation.title}{nicknamed ? ` (@${handle})` : ''}&apos;s safety number has changed. Messages to them are held until you compare and accept the new one.</span>
          <button type="button" onClick={onShowSafetyNumber}>
            Review safety number
          </button>
        </div>
      ) : null}
      {conversation.importedUnverified ? (
        <div className="banner info" role="note">
          <span>Some messages here came from a backup that was not signed by you: they may have been written by someone else.</span>
        </div>
      ) : null}
      {unreadFrom && !jumped ? (
        <button type="button" className="jump-unread" onClick={jumpToUnread}>
          Jump to first unread
        </button>
      ) : null}
      <div ref={scrollRef} className="messages" role="log" aria-label={`Messages with ${conversation.title}`} tabIndex={0} onScroll={() => void onScroll()}>
        <div className="messages-inner" style={{ height: virtualizer.getTotalSize() }}>
          {virtualizer.getVirtualItems().map((item) => {
            const row = rows[item.index]!;
            return (
              <div key={item.key} data-index={item.index} ref={virtualizer.measureElement} className="row" style={{ transform: `translateY(${item.start}px)` }}>
                {row.kind === 'day' ? (
                  <div className="day-separator" role="separator" aria-label={row.label}>
                    <span>{row.label}</span>
                  </div>
                ) : row.kind === 'unread' ? (
                  <div className="unread-divider" role="separator" aria-label="New messages">
                    <span>New messages</span>
                  </div>
                ) : row.message.deleted ? (
                  <TombstoneBubble message={row.message} />
                ) : row.message.timerChange ? (
                  <TimerLine message={row.message} contactName={conversation.title} />
                ) : (
                  <MessageBubble
                    message={row.message}
                    attachment={attachments.get(row.message.id)}
                    now={now}
                    focused={row.message.id === highlight}
                    readOnly={backupId !== null}
                    onReply={startReply}
                    onCopy={(m) => void copy(m)}
                    onDetails={setDetails}
                    onDelete={setToDelete}
                    onDeleteForEveryone={forEveryone.ask}
                    onJump={jumpTo}
                    onLink={setLinkUrl}
                  />
                )}
              </div>
            );
          })}
        </div>
      </div>
      {error ? <p role="alert" className="error">{error}</p> : null}
      <p role="status" className="visually-hidden">
        {notice}
      </p>
      {replyTo ? (
        <div className="reply-bar">
          <span className="reply-label">Replying to {replyTo.direction === 'out' ? 'yourself' : conversation.title}:</span>
          <span className="reply-text">{replyTo.text.slice(0, 200)}</span>
          <button type="button" className="icon-button" aria-label="Cancel reply" onClick={() => setReplyTo(null)}>
            ×
          </button>
        </div>
      ) : null}
      {backupId ? (
        <p className="hint">This is a read-only backup.</p>
      ) : (
        <form className="composer" onSubmit={(e) => void send(e)}>
          <UploadList uploads={files.uploads} onCancel={files.cancel} />
          <AttachButton onFiles={files.sendFiles} />
          <label htmlFor="composer" className="visually-hidden">
            Message to {conversation.title}
          </label>
          <textarea
            ref={composerRef}
            id="composer"
            rows={2}
            value={draft}
            placeholder={held ? 'Sending is held until you accept the new safety number' : 'Write a message (Enter to send, Shift+Enter for a new line)'}
            onChange={(e) => {
              // The page's copy changes only on typing (effects may run twice on mount).
              sessionDrafts.set(conversationId, e.target.value);
              setDraft(e.target.value);
            }}
            onKeyDown={onComposerKey}
            onPaste={(e) => {
              // A pasted image (a screenshot) is sent as a file; pasted text stays text.
              const pasted = Array.from(e.clipboardData.files);
              if (pasted.length === 0) return;
              e.preventDefault();
              files.sendFiles(pasted);
            }}
            maxLength={MAX_TEXT_CHARS}
          />
          <button type="submit" className="primary" disabled={draft.trim() === ''}>
            Send
          </button>
        </form>
      )}
      {details ? <MessageDetailsDialog message={details} backupId={backupId} onClose={() => setDetails(null)} /> : null}
      {linkUrl ? <LinkDialog url={linkUrl} onClose={() => setLinkUrl(null)} /> : null}
      {toDelete ? <DeleteMessageDialog contact={conversation.title} onConfirm={() => void deleteForMe(toDelete)} onClose={() => setToDelete(null)} /> : null}
      {forEveryone.dialog}
    </section>
  );
}

function MessageBubble({
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
  const openLink = (e: MouseEvent<HTMLAnchorElement>, href: string) => {
    // Never followed directly: the confirmation shows the full address first.
    e.preventDefault();
    onLink(href);
  };
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
      <p className="text">
        {splitLinks(message.text).map((part, i) =>
          part.kind === 'text' ? (
            part.text
          ) : (
            <a key={i} href={part.href} target="_blank" rel="noopener noreferrer" onClick={(e) => openLink(e, part.href)}>
              {part.text}
            </a>
          ),
        )}
      </p>
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
