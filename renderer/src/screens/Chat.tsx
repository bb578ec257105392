import { useCallback, useEffect, useLayoutEffect, useRef, useState, type FormEvent, type SetStateAction } from 'react';
import { useVirtualizer } from '@tanstack/react-virtual';
import type { ConversationSummary, HistoryAnchor, Message } from '../../../shared/api.ts';
import { useApi, errorText, isApiError, useReconnects } from '../api.ts';
import { useAttachmentUpload, useAttachmentsOf } from '../components/Attachments.tsx';
import { firstUnreadId } from '../daily.ts';
import { buildTimeline, type TimelineRow } from '../logic.ts';
import { EMPTY_HISTORY, fromPage, withArrived, withNewerPage, withNewestReloaded, withOlderPage, withSent, type HistoryWindow } from '../chat/history-window.ts';
import { DeleteMessageDialog, LinkDialog, MessageDetailsDialog } from './MessageDialogs.tsx';
import { notExpired, TimerLine, useNow } from '../components/Disappearing.tsx';
import { TombstoneBubble, useDeleteForEveryone } from '../components/DeleteForEveryone.tsx';
import { ChatHeader } from '../chat/ChatHeader.tsx';
import { Composer } from '../chat/Composer.tsx';
import { useDraft } from '../chat/drafts.ts';
import { useLocking } from '../locking.ts';
import { MessageBubble } from '../chat/MessageBubble.tsx';
import { useFollowEnd } from '../chat/use-follow-end.ts';
import { JumpToNewest } from '../chat/JumpToNewest.tsx';

export { forgetSessionDrafts } from '../chat/drafts.ts';

type Row = TimelineRow | { kind: 'unread'; key: string };
type PendingScroll = { kind: 'bottom' } | { kind: 'id'; id: string } | { kind: 'keep'; id: string };
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
  // Messages and whether more exist either side change together: a reload and a page can land in
  // either order, in one tick (chat/history-window.ts).
  const [win, setWin] = useState<HistoryWindow>(EMPTY_HISTORY);
  const { messages, hasOlder, hasNewer } = win;
  const setMessages = useCallback(
    (next: SetStateAction<Message[]>) =>
      setWin((w) => {
        const m = typeof next === 'function' ? next(w.messages) : next;
        return m === w.messages ? w : { ...w, messages: m };
      }),
    [],
  );
  const [error, setError] = useState('');
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
  const scrollRef = useRef<HTMLDivElement>(null);
  const pendingScroll = useRef<PendingScroll | null>(null);
  const innerRef = useRef<HTMLDivElement>(null);
  // Set each render, once the virtualizer and rows are known.
  const scrollToEnd = useRef(() => {});
  const follow = useFollowEnd(scrollRef, () => scrollToEnd.current(), innerRef);
  /**
   * A change of the window, decided on the window as it is when React applies it; `scroll` is
   * where to scroll if it changed anything (a page dropped, or a message not shown, moves nothing).
   * Setting the ref here is idempotent, so an updater run twice (StrictMode) does no harm.
   */
  const change = useCallback((next: (w: HistoryWindow) => HistoryWindow, scroll?: PendingScroll) => {
    setWin((w) => {
      const n = next(w);
      if (n !== w && scroll) pendingScroll.current = scroll;
      return n;
    });
  }, []);
  const source = backupId ? { backupId } : {};
  const conversationId = conversation.id;
  const onFileSent = useCallback((m: Message) => change((w) => withArrived(w, m), { kind: 'bottom' }), [change]);
  const files = useAttachmentUpload(conversationId, onFileSent, setError);
  const attachments = useAttachmentsOf(messages, backupId);
  const forEveryone = useDeleteForEveryone(conversationId, conversation.title, setMessages, (n, e) => (setNotice(n), setError(e)));

  const load = useCallback(
    async (anchor: HistoryAnchor) => {
      try {
        const page = await api.historyPage({ conversationId, anchor, limit: PAGE, ...source });
        setError('');
        return page;
      } catch (err) {
        // A page's anchor deleted or expired meanwhile: the window is behind main, and the
        // deletion's event, on its way, changes it (the next scroll or check asks again).
        const anchorGone = anchor.kind !== 'newest' && anchor.kind !== 'around' && isApiError(err, 'UNKNOWN_MESSAGE');
        if (!anchorGone) setError(errorText(err));
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
      setWin(fromPage(page));
    });
    return () => {
      alive = false;
    };
  }, [load, focusMessageId, setMessages]);

  // Live updates (not for a read-only backup).
  useEffect(() => {
    if (backupId) return;
    const offMessage = api.on('message', (m) => {
      if (m.conversationId !== conversationId) return;
      // While a later part of history is not loaded, the new message arrives with that part.
      const scrollTo = follow.followsArrival(scrollRef.current) || m.direction === 'out';
      change((w) => withArrived(w, m), scrollTo ? { kind: 'bottom' } : undefined);
      if (!scrollTo && m.direction === 'in' && !m.timerChange) follow.arrivedUnseen([m.id]);
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
  }, [api, conversationId, backupId, change, setMessages, follow.followsArrival, follow.arrivedUnseen]);

  // The page's link to the service came back (browser mode): events sent while it was down are
  // lost, so the newest page is loaded again and replaces the window's end (chat/history-window.ts;
  // a window that ends before the newest gets what it lacks as the reader scrolls on).
  const reconnects = useReconnects();
  const reconnectsSeen = useRef(reconnects);
  useEffect(() => {
    if (reconnects === reconnectsSeen.current) return;
    reconnectsSeen.current = reconnects;
    if (backupId || hasNewer) return;
    const shown = new Set(messages.map((m) => m.id));
    void load({ kind: 'newest' }).then((page) => {
      if (!page) return;
      const scroll = follow.isFollowing();
      change((w) => withNewestReloaded(w, page, WINDOW), scroll ? { kind: 'bottom' } : undefined);
      if (!scroll) follow.arrivedUnseen(page.messages.filter((m) => m.direction === 'in' && !m.timerChange && !shown.has(m.id)).map((m) => m.id));
    });
  }, [reconnects]);

  const drafts = useDraft(conversationId, backupId);
  const locking = useLocking();

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
  // Not while the window ends before the newest: a reader reading on there is not carried page by page.
  scrollToEnd.current = () => {
    if (rows.length > 0 && !hasNewer) virtualizer.scrollToIndex(rows.length - 1, { align: 'end' });
  };

  useLayoutEffect(() => {
    const target = pendingScroll.current;
    if (!target || rows.length === 0) return;
    pendingScroll.current = null;
    if (target.kind === 'bottom') {
      follow.scrolledToEnd();
      virtualizer.scrollToIndex(rows.length - 1, { align: 'end' });
    } else {
      // An older page put before ('keep') leaves following as it was.
      if (target.kind === 'id') follow.scrolledAway();
      const index = rows.findIndex((r) => r.kind === 'message' && r.message.id === target.id);
      if (index >= 0) virtualizer.scrollToIndex(index, { align: target.kind === 'id' ? 'center' : 'start' });
    }
  });

  // Mark read when the newest incoming message is on screen.
  const newestIncoming = [...messages].reverse().find((m) => m.direction === 'in');
  // Not while texts arrived below a reader scrolled up: not seen yet (a read receipt, a timer's start).
  useEffect(() => {
    if (backupId || !newestIncoming || conversation.unread === 0 || hasNewer || follow.hasUnseen()) return;
    void api.markRead({ conversationId, upToMessageId: newestIncoming.id }).catch(() => undefined);
  }, [api, backupId, conversationId, newestIncoming?.id, conversation.unread, hasNewer, follow.unseen]);

  async function onScroll() {
    if (loading.current) return;
    loading.current = true;
    let asked = false;
    try {
      asked = await loadMore();
    } finally {
      loading.current = false;
      if (asked) setPagesSettled((n) => n + 1);
    }
  }

  /** Loads the page the view's edge wants, if any; says whether it asked for one. */
  async function loadMore(): Promise<boolean> {
    const el = scrollRef.current;
    if (!el) return false;
    if (messages.length === 0) {
      // Every text of the window went (deleted, expired) while more exist: the newest page again.
      if (!hasOlder && !hasNewer) return false;
      const page = await load({ kind: 'newest' });
      if (page) change((w) => (w.messages.length === 0 ? fromPage(page) : w), { kind: 'bottom' });
      return true;
    }
    // All of them under timers that ran out: hidden already, deleted by main within a second (an
    // anchor may be gone by then); the deletion's change of the window brings the check back.
    if (notExpired(messages, Date.now()).length === 0) return false;
    if (el.scrollTop < 300 && hasOlder) {
      const first = messages[0]!;
      const page = await load({ kind: 'before', messageId: first.id });
      if (page) change((w) => withOlderPage(w, first.id, page, WINDOW), { kind: 'keep', id: first.id });
      return true;
    }
    if (el.scrollHeight - el.scrollTop - el.clientHeight < 300 && hasNewer) {
      const last = messages[messages.length - 1]!;
      const page = await load({ kind: 'after', messageId: last.id });
      if (page) change((w) => withNewerPage(w, last.id, page, WINDOW));
      return true;
    }
    return false;
  }

  // A window that does not fill the log (its texts deleted or expired while it was open) gives no
  // scroll to page by: while the log cannot scroll, the pages either side are loaded without one,
  // after each change of the rows and each page that settled (not after a failed one: `error`).
  const [pagesSettled, setPagesSettled] = useState(0);
  useEffect(() => {
    const el = scrollRef.current;
    if (!el || error || el.scrollHeight > el.clientHeight + 1) return;
    void onScroll();
  }, [rows.length, messages.length, pagesSettled]);

  async function send(e?: FormEvent) {
    e?.preventDefault();
    const text = drafts.draft.trim();
    // While locking the text stays in the composer: the send would be refused (locking.ts).
    if (!text || locking) return;
    // Emptied at Enter, not when the send returns: what is typed meanwhile is the next message
    // and must not be wiped by this one's completion.
    const quoted = replyTo;
    drafts.clear();
    setReplyTo(null);
    try {
      const sent = await api.sendText({ conversationId, text, ...(quoted ? { replyTo: quoted.id } : {}) });
      setError('');
      // Sent from a part of history that ends before the newest messages (a search hit, a quote):
      // the chat goes to the newest page, which holds what was just sent (chat/history-window.ts).
      const newest = hasNewer ? await load({ kind: 'newest' }) : undefined;
      change((w) => withSent(w, sent, newest), { kind: 'bottom' });
    } catch (err) {
      // The quote comes back only with its text: new text typed meanwhile is not made a reply.
      if (drafts.restore(text)) setReplyTo((cur) => cur ?? quoted);
      setError(errorText(err));
    }
  }

  /** Scrolls to a message (a quote's original): in the window, or loaded around it. */
  function jumpTo(id: string) {
    setHighlight(id);
    const index = rows.findIndex((r) => r.kind === 'message' && r.message.id === id);
    if (index >= 0) {
      follow.scrolledAway();
      virtualizer.scrollToIndex(index, { align: 'center' });
    } else setFocusMessageId(id);
  }

  /** To the newest messages (loading them if the window ends before them), following from there. */
  async function jumpToNewest() {
    const newest = hasNewer ? await load({ kind: 'newest' }) : undefined;
    if (hasNewer && !newest) return;
    follow.scrolledToEnd();
    // The button leaves: the log keeps the focus.
    scrollRef.current?.focus();
    // The window as it is, as a new object: the render that scrolls to the end.
    change((w) => (newest ? fromPage(newest) : { ...w }), { kind: 'bottom' });
  }

  function jumpToUnread() {
    setJumped(true);
    if (unreadIndex >= 0) {
      follow.scrolledAway();
      virtualizer.scrollToIndex(unreadIndex, { align: 'start' });
    }
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
      <ChatHeader
        conversation={conversation}
        handle={handle}
        readOnly={backupId !== null}
        onShowSafetyNumber={onShowSafetyNumber}
        onRename={onRename}
        onError={setError}
      />
      {unreadFrom && !jumped ? (
        <button type="button" className="jump-unread" onClick={jumpToUnread}>
          Jump to first unread
        </button>
      ) : null}
      <div
        ref={scrollRef}
        className="messages"
        role="log"
        aria-label={`Messages with ${conversation.title}`}
        tabIndex={0}
        {...follow.logProps}
        onScroll={(e) => {
          follow.onScroll(e.currentTarget);
          void onScroll();
        }}
      >
        <div ref={innerRef} className="messages-inner" style={{ height: virtualizer.getTotalSize() }}>
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
      <JumpToNewest unseen={follow.unseen} onJump={() => void jumpToNewest()} />
      {error ? <p role="alert" className="error">{error}</p> : null}
      <p role="status" className="visually-hidden">
        {notice}
      </p>
      {backupId ? (
        <p className="hint">This is a read-only backup.</p>
      ) : (
        <Composer
          title={conversation.title}
          held={conversation.identityChanged}
          draft={drafts.draft}
          onType={drafts.type}
          onSend={(e) => void send(e)}
          replyTo={replyTo}
          onCancelReply={() => setReplyTo(null)}
          files={files}
          composerRef={composerRef}
        />
      )}
      {details ? <MessageDetailsDialog message={details} backupId={backupId} onClose={() => setDetails(null)} /> : null}
      {linkUrl ? <LinkDialog url={linkUrl} onClose={() => setLinkUrl(null)} /> : null}
      {toDelete ? <DeleteMessageDialog contact={conversation.title} onConfirm={() => void deleteForMe(toDelete)} onClose={() => setToDelete(null)} /> : null}
      {forEveryone.dialog}
    </section>
  );
}

