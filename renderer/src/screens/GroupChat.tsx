// A group chat (docs/ui.md "Groups"): header with the name and member count, the newest messages
// (older ones on request) with each sender's name and files, membership changes as system lines,
// and the composer, which takes files as the 1:1 one does (drop, a pasted image, the picker).
import { useCallback, useEffect, useLayoutEffect, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import { MAX_TEXT_CHARS, type Contact, type GroupInfo, type GroupMessage } from '../../../shared/api.ts';
import { errorText, useApi, useReconnects } from '../api.ts';
import { AttachButton, UploadList, useAttachmentUpload, useAttachmentsOf } from '../components/Attachments.tsx';
import { Avatar } from '../components/Avatar.tsx';
import { GroupBubble, useGroupDelete } from '../chat/GroupBubble.tsx';
import { GroupReceiptsDialog } from '../chat/GroupReceipts.tsx';
import { applyDeleted, EMPTY_WINDOW, withNewestPage, withOlderPage, type GroupWindow } from '../chat/group-window.ts';
import { LinkDialog } from './MessageDialogs.tsx';
import { groupTimerLabel } from '../chat/GroupTimer.tsx';
import { TombstoneBubble } from '../components/DeleteForEveryone.tsx';
import { notExpired, useNow } from '../components/Disappearing.tsx';
import { useDraft } from '../chat/drafts.ts';
import { useLocking } from '../locking.ts';
import { useFollowEnd } from '../chat/use-follow-end.ts';
import { JumpToNewest } from '../chat/JumpToNewest.tsx';
import '../groups.css';

const PAGE = 200;

export function memberName(handle: string, self: string, contacts: readonly Contact[]): string {
  if (handle === self) return 'You';
  const c = contacts.find((x) => x.handle === handle);
  return c && c.displayName && c.displayName !== handle ? c.displayName : `@${handle}`;
}

/** How far back a search hit is looked for (pages of PAGE) before the chat says it is gone. */
const FOCUS_PAGES = 50;

export function GroupChat({
  group,
  focusMessageId = null,
  self,
  contacts,
  onInfo,
  onChanged,
}: {
  group: GroupInfo;
  /** A search hit to show: loaded (older pages as needed), scrolled to and outlined. */
  focusMessageId?: string | null;
  self: string;
  contacts: readonly Contact[];
  onInfo: () => void;
  onChanged: (g: GroupInfo) => void;
}) {
  const api = useApi();
  // Messages and "older ones exist" change together: a reload and an older page can land in either order.
  const [win, setWin] = useState<GroupWindow>(EMPTY_WINDOW);
  const { messages, hasOlder } = win;
  const setMessages = useCallback((next: (cur: GroupMessage[]) => GroupMessage[]) => {
    setWin((w) => {
      const m = next(w.messages);
      return m === w.messages ? w : { ...w, messages: m };
    });
  }, []);
  // Sealed by main like a 1:1 chat's draft (chat/drafts.ts), keyed by the group's conversation id.
  const drafts = useDraft(group.conversationId, null);
  const draft = drafts.draft;
  const locking = useLocking();
  const [error, setError] = useState('');
  const [receiptsOf, setReceiptsOf] = useState<GroupMessage | null>(null);
  const [notice, setNotice] = useState('');
  const [linkUrl, setLinkUrl] = useState<string | null>(null);
  /** The text the next send replies to (the reply bar above the composer). */
  const [replyTo, setReplyTo] = useState<GroupMessage | null>(null);
  const composerRef = useRef<HTMLTextAreaElement>(null);
  const shown = useRef<GroupMessage[]>([]);
  shown.current = messages;
  const logRef = useRef<HTMLDivElement>(null);
  const groupId = group.groupId;
  const reconnects = useReconnects();
  // The page shows a delete at once; the `group` event that follows reloads the same result.
  const deletes = useGroupDelete(
    group.conversationId,
    group.name,
    (m, forEveryone) => setMessages((cur) => (forEveryone ? cur.map((x) => (x.id === m.id ? { ...x, deleted: true as const, text: '' } : x)) : cur.filter((x) => x.id !== m.id))),
    (n, e) => (setNotice(n), setError(e)),
  );

  const reload = useCallback(async () => {
    const [page, info] = await Promise.all([api.groupHistory({ groupId, limit: PAGE }), api.groupInfo({ groupId })]);
    // Older pages loaded on request stay before the newest page (joined to the window as it is now).
    setWin((w) => withNewestPage(w, page));
    onChanged(info);
  }, [api, groupId, onChanged]);
  // The messages' own box: it grows when a bubble does (an image preview that loads after it was shown).
  const contentRef = useRef<HTMLDivElement>(null);
  const logToEnd = useCallback(() => {
    const el = logRef.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, []);
  const follow = useFollowEnd(logRef, logToEnd, contentRef);
  // Files go to the group's conversation id (main uploads once for the members, then announces it).
  // What the reader sent is scrolled to (the reload shows it).
  const onFileSent = useCallback(() => {
    follow.scrolledToEnd();
    reload().catch((err: unknown) => setError(errorText(err)));
  }, [reload, follow.scrolledToEnd]);
  const files = useAttachmentUpload(group.conversationId, onFileSent, setError);
  const attachments = useAttachmentsOf(messages);

  // Loads on opening, on the group's `group` event (a message or line stored, a change applied,
  // a receipt) and after the page's link came back (events sent meanwhile were lost); no polling.
  useEffect(() => {
    let live = true;
    const tick = () => {
      if (!live) return;
      reload().then(
        () => undefined,
        (err: unknown) => live && setError(errorText(err)),
      );
    };
    tick();
    const off = api.on('group', (g) => {
      if (g.groupId === groupId) tick();
    });
    // Deleted or expired in main (a timer ran out): gone from the page too.
    const offDeleted = api.on('messagesDeleted', (d) => {
      if (d.conversationId !== group.conversationId) return;
      // Also from the older pages, which the reload does not fetch again.
      setMessages((cur) => (d.all ? [] : applyDeleted(cur, new Set(d.messageIds), new Set())));
      setReplyTo((r) => (r && (d.all || d.messageIds.includes(r.id)) ? null : r));
      tick();
    });
    const offTombstones = api.on('deletedForEveryone', (d) => {
      if (d.conversationId === group.conversationId) setMessages((cur) => applyDeleted(cur, new Set(), new Set(d.messages.map((m) => m.id))));
    });
    return () => {
      live = false;
      off();
      offDeleted();
      offTombstones();
    };
  }, [api, groupId, group.conversationId, reload, reconnects]);

  // Shown is read: the newest incoming message marks everything before it (the authors get read receipts).
  const newestUnread = messages.findLast((m) => m.direction === 'in' && m.state === 'received')?.id;
  // Not while texts arrived below a reader scrolled up: not seen yet (read receipts, timers' start).
  useEffect(() => {
    if (!newestUnread || follow.hasUnseen()) return;
    void api.groupMarkRead({ groupId, upToMessageId: newestUnread }).catch(() => undefined);
  }, [api, groupId, newestUnread, follow.unseen]);

  // Keep the newest message in view while the chat follows its end (chat/use-follow-end.ts; the
  // reader's own send sets it) and when it first shows; a reader scrolled up stays where they are.
  // After an older page was put before, keep what was on screen where it was.
  const keepFromBottom = useRef<number | null>(null);
  const newest = useRef<string | undefined>(undefined);
  useLayoutEffect(() => {
    const el = logRef.current;
    const last = messages.at(-1);
    const before = newest.current;
    const shownFirst = before === undefined;
    newest.current = last?.id;
    if (!el) return;
    if (keepFromBottom.current !== null) {
      el.scrollTop = el.scrollHeight - keepFromBottom.current;
      keepFromBottom.current = null;
    } else if (shownFirst || follow.isFollowing()) {
      follow.scrolledToEnd();
      logToEnd();
    } else if (last !== undefined && last.id !== before) {
      // Others' texts after the newest one shown before (none if that one is gone: a deletion).
      const at = messages.findIndex((m) => m.id === before);
      if (at >= 0) follow.arrivedUnseen(messages.slice(at + 1).filter((m) => m.direction === 'in' && !m.system).map((m) => m.id));
    }
  }, [messages]);

  // A search hit: older pages until it is there (or the history ends), then into view.
  const focusPages = useRef(0);
  const [focusGone, setFocusGone] = useState(false);
  const loadingOlder = useRef(false);
  // Counts older-page loads that ended: a hit still looked for goes on after a page the window dropped
  // (withOlderPage) or one that ended while a reload changed the window (the effect skipped it then).
  const [olderSettled, setOlderSettled] = useState(0);
  // Scrolled to once: a later change of the window (an arrival, a read mark) leaves the reader where they went.
  const focusShown = useRef<string | null>(null);
  useEffect(() => {
    focusPages.current = 0;
    focusShown.current = null;
    setFocusGone(false);
  }, [focusMessageId]);
  useEffect(() => {
    if (!focusMessageId || messages.length === 0 || focusShown.current === focusMessageId) return;
    const el = logRef.current?.querySelector(`[data-message-id="${CSS.escape(focusMessageId)}"]`);
    if (el) {
      focusShown.current = focusMessageId;
      follow.scrolledAway();
      el.scrollIntoView({ block: 'center' });
      return;
    }
    if (hasOlder && focusPages.current < FOCUS_PAGES && !loadingOlder.current) {
      focusPages.current++;
      void loadOlder();
    } else if (!hasOlder || focusPages.current >= FOCUS_PAGES) setFocusGone(true);
  }, [focusMessageId, messages, hasOlder, olderSettled]);

  async function loadOlder() {
    const first = shown.current[0];
    if (!first || loadingOlder.current) return;
    loadingOlder.current = true;
    try {
      const page = await api.groupHistory({ groupId, limit: PAGE, before: first.id });
      // A reload replaced the window meanwhile (withOlderPage drops the page then).
      if (shown.current[0]?.id !== first.id) return;
      const el = logRef.current;
      if (el) keepFromBottom.current = el.scrollHeight - el.scrollTop;
      setWin((w) => withOlderPage(w, first.id, page));
      // The button leaves with the last page: the log keeps the focus.
      if (!page.hasOlder && !focusMessageId) logRef.current?.focus();
    } catch (err) {
      setError(errorText(err));
    } finally {
      loadingOlder.current = false;
      if (focusMessageId) setOlderSettled((n) => n + 1);
    }
  }

  async function send(e?: FormEvent) {
    e?.preventDefault();
    const text = draft.trim();
    // While locking the text stays in the composer: the send would be refused (locking.ts).
    if (!text || locking) return;
    setError('');
    // Emptied at Enter (as in a 1:1 chat), so text typed while this send runs is kept.
    const quoted = replyTo;
    drafts.clear();
    setReplyTo(null);
    try {
      await api.groupSend({ groupId, text, ...(quoted ? { replyTo: quoted.id } : {}) });
      // The reader's own text is scrolled to, whatever lands before it.
      follow.scrolledToEnd();
    } catch (err) {
      // Text and quote come back only if nothing new was typed meanwhile.
      if (drafts.restore(text)) setReplyTo((cur) => cur ?? quoted);
      setError(errorText(err));
      return;
    }
    try {
      await reload();
    } catch (err) {
      setError(errorText(err));
    }
  }
  async function copy(m: GroupMessage) {
    try {
      await navigator.clipboard.writeText(m.text);
      setNotice('Copied the message text.');
    } catch {
      setNotice('Could not copy: the clipboard is not available.');
    }
  }
  function startReply(m: GroupMessage) {
    setReplyTo(m);
    composerRef.current?.focus();
  }
  function jumpToNewest() {
    follow.scrolledToEnd();
    logToEnd();
    // The button leaves: the log keeps the focus.
    logRef.current?.focus();
  }
  function jump(id: string) {
    const el = logRef.current?.querySelector<HTMLElement>(`[data-message-id="${CSS.escape(id)}"]`);
    if (el) {
      follow.scrolledAway();
      el.scrollIntoView({ block: 'center' });
    } else setNotice('The quoted message is not loaded; show older messages to find it.');
  }
  function onKey(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      void send();
    }
  }

  // Texts under a timer count down on the page's clock and are not shown once expired.
  const now = useNow(messages.some((m) => typeof m.expiresAt === 'number'));
  const count = `${group.members.length} ${group.members.length === 1 ? 'member' : 'members'}`;
  return (
    <section
      className="chat group-chat"
      aria-labelledby="chat-title"
      onDragOver={(e) => {
        if (group.isMember && e.dataTransfer.types.includes('Files')) e.preventDefault();
      }}
      onDrop={(e) => {
        if (!group.isMember || e.dataTransfer.files.length === 0) return;
        e.preventDefault();
        files.sendFiles(Array.from(e.dataTransfer.files));
      }}
    >
      <header className="chat-head">
        <Avatar contactId={group.conversationId} name={group.name} />
        <h2 id="chat-title">
          {group.name}
          <span className="handle"> {count}</span>
        </h2>
        {group.timerSeconds ? <span className="group-timer-on">Disappearing messages: {groupTimerLabel(group)}</span> : null}
        <button type="button" onClick={onInfo}>
          Group info
        </button>
      </header>
      <div
        ref={logRef}
        className="messages group-messages"
        role="log"
        aria-label={`Messages in ${group.name}`}
        tabIndex={0}
        {...follow.logProps}
        onScroll={(e) => follow.onScroll(e.currentTarget)}
      >
        {hasOlder ? (
          <button type="button" className="load-older" onClick={() => void loadOlder()}>
            Show older messages
          </button>
        ) : null}
        <div ref={contentRef} className="group-messages-inner">
          {notExpired(messages, now).map((m) =>
            m.deleted ? (
              <TombstoneBubble key={m.id} message={m} />
            ) : m.system ? (
              <p key={m.id} className="system-line" role="note" data-message-id={m.id}>
                {m.text}
              </p>
            ) : (
              <GroupBubble
                key={m.id}
                message={m}
                attachment={attachments.get(m.id)}
                senderName={memberName(m.sender, self, contacts)}
                now={now}
                focused={m.id === focusMessageId}
                isMember={group.isMember}
                quotedName={(h) => memberName(h, self, contacts)}
                onReply={startReply}
                onJump={jump}
                onCopy={(x) => void copy(x)}
                onDelete={(x) => deletes.ask(x, false)}
                onDeleteForEveryone={(x) => deletes.ask(x, true)}
                onReceipts={setReceiptsOf}
                onLink={setLinkUrl}
              />
            ),
          )}
        </div>
      </div>
      <JumpToNewest unseen={follow.unseen} onJump={jumpToNewest} />
      {error ? <p role="alert" className="error">{error}</p> : null}
      {focusGone ? <p className="hint">The message you searched for is no longer in this group's history.</p> : null}
      <p role="status" className="visually-hidden">
        {notice}
      </p>
      {group.isMember && replyTo ? (
        <div className="reply-bar">
          <span className="reply-label">Replying to {memberName(replyTo.sender, self, contacts)}:</span>
          <span className="reply-text">{replyTo.text.slice(0, 200)}</span>
          <button type="button" className="icon-button" aria-label="Cancel reply" onClick={() => (setReplyTo(null), composerRef.current?.focus())}>
            ×
          </button>
        </div>
      ) : null}
      {group.isMember ? (
        <form className="composer" onSubmit={(e) => void send(e)}>
          <UploadList uploads={files.uploads} onCancel={files.cancel} />
          <AttachButton onFiles={files.sendFiles} />
          <label htmlFor="group-composer" className="visually-hidden">
            Message to {group.name}
          </label>
          <textarea
            ref={composerRef}
            id="group-composer"
            rows={2}
            value={draft}
            placeholder="Write a message (Enter to send, Shift+Enter for a new line)"
            onChange={(e) => drafts.type(e.target.value)}
            onKeyDown={onKey}
            onPaste={(e) => {
              // A pasted image (a screenshot) is sent as a file, as in a 1:1 chat; pasted text stays text.
              const pasted = Array.from(e.clipboardData.files);
              if (pasted.length === 0) return;
              e.preventDefault();
              files.sendFiles(pasted);
            }}
            maxLength={MAX_TEXT_CHARS}
            readOnly={locking}
          />
          <button type="submit" className="primary" disabled={locking || draft.trim() === ''}>
            {locking ? 'Locking…' : 'Send'}
          </button>
        </form>
      ) : (
        <p className="hint">You are no longer a member of this group.</p>
      )}
      {deletes.dialog}
      {linkUrl ? <LinkDialog url={linkUrl} onClose={() => setLinkUrl(null)} /> : null}
      {receiptsOf ? <GroupReceiptsDialog groupId={groupId} message={receiptsOf} name={(h) => memberName(h, self, contacts)} onClose={() => setReceiptsOf(null)} /> : null}
    </section>
  );
}
