import { useCallback, useEffect, useLayoutEffect, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import { useVirtualizer } from '@tanstack/react-virtual';
import { MAX_TEXT_CHARS, type ConversationSummary, type HistoryAnchor, type Message } from '../../../shared/api/contract.ts';
import { useApi, errorText } from '../api.ts';
import { buildTimeline, DELIVERY_LABELS, formatTime, mergeMessages } from '../logic.ts';

const PAGE = 100;
/** Keep at most this many messages in memory; the list pages in both directions. */
const WINDOW = 1500;

export function Chat({
  conversation,
  backupId,
  focusMessageId,
  onShowSafetyNumber,
}: {
  conversation: ConversationSummary;
  backupId: string | null;
  focusMessageId: string | null;
  onShowSafetyNumber: () => void;
}) {
  const api = useApi();
  const [messages, setMessages] = useState<Message[]>([]);
  const [hasOlder, setHasOlder] = useState(false);
  const [hasNewer, setHasNewer] = useState(false);
  const [error, setError] = useState('');
  const [draft, setDraft] = useState('');
  const loading = useRef(false);
  const hasNewerRef = useRef(false);
  hasNewerRef.current = hasNewer;
  const scrollRef = useRef<HTMLDivElement>(null);
  const pendingScroll = useRef<{ kind: 'bottom' } | { kind: 'id'; id: string } | { kind: 'keep'; id: string } | null>(null);
  const source = backupId ? { backupId } : {};
  const conversationId = conversation.id;

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
    return () => {
      offMessage();
      offState();
    };
  }, [api, conversationId, backupId]);

  const rows = buildTimeline(messages);
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: (i) => (rows[i]?.kind === 'day' ? 36 : 64),
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
      const sent = await api.sendText({ conversationId, text });
      setDraft('');
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

  const held = conversation.identityChanged;
  return (
    <section className="chat" aria-labelledby="chat-title">
      <header className="chat-head">
        <h2 id="chat-title">
          {conversation.title}
          {conversation.verified ? <span className="badge verified" title="Safety number verified"> ✓ verified</span> : null}
        </h2>
        <button type="button" onClick={onShowSafetyNumber}>
          Safety number
        </button>
      </header>
      {held ? (
        <div className="banner warn" role="alert">
          <span>{conversation.title}&apos;s safety number has changed. Messages to them are held until you compare and accept the new one.</span>
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
                ) : (
                  <MessageBubble message={row.message} focused={row.message.id === focusMessageId} />
                )}
              </div>
            );
          })}
        </div>
      </div>
      {error ? <p role="alert" className="error">{error}</p> : null}
      {backupId ? (
        <p className="hint">This is a read-only backup.</p>
      ) : (
        <form className="composer" onSubmit={send}>
          <label htmlFor="composer" className="visually-hidden">
            Message to {conversation.title}
          </label>
          <textarea
            id="composer"
            rows={2}
            value={draft}
            placeholder={held ? 'Sending is held until you accept the new safety number' : 'Write a message (Enter to send, Shift+Enter for a new line)'}
            onChange={(e) => setDraft(e.target.value)}
            onKeyDown={onComposerKey}
            maxLength={MAX_TEXT_CHARS}
          />
          <button type="submit" className="primary" disabled={draft.trim() === ''}>
            Send
          </button>
        </form>
      )}
    </section>
  );
}

function MessageBubble({ message, focused }: { message: Message; focused: boolean }) {
  const out = message.direction === 'out';
  const state = DELIVERY_LABELS[message.state];
  return (
    <div className={`bubble ${out ? 'out' : 'in'}${focused ? ' focused' : ''}${message.state === 'failed' ? ' failed' : ''}`} data-message-id={message.id}>
      <p className="text">{message.text}</p>
      <p className="meta">
        <time dateTime={new Date(message.sentAt).toISOString()}>{formatTime(message.sentAt)}</time>
        {out ? <span className={`delivery state-${message.state}`}> · {state}</span> : null}
      </p>
    </div>
  );
}
