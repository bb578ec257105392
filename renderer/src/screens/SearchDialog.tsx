import { useEffect, useId, useState } from 'react';
import type { ConversationSummary, GroupInfo, SearchHit } from '../../../shared/api.ts';
import { useApi, errorText } from '../api.ts';
import { Dialog } from '../components/Dialog.tsx';
import { dayLabel, formatTime } from '../logic.ts';

/** Ctrl+K: search every conversation (or one); choosing a hit opens it in context. */
export function SearchDialog({
  conversations,
  groups = [],
  backupId,
  onClose,
  onPick,
}: {
  conversations: readonly ConversationSummary[];
  /** Groups, searched like chats (their messages are stored under `conversationId`). */
  groups?: readonly GroupInfo[];
  backupId: string | null;
  onClose: () => void;
  onPick: (hit: SearchHit) => void;
}) {
  const api = useApi();
  const [query, setQuery] = useState('');
  const [conversationId, setConversationId] = useState('');
  const [order, setOrder] = useState<'newest' | 'relevance'>('newest');
  const [hits, setHits] = useState<SearchHit[]>([]);
  const [truncated, setTruncated] = useState(false);
  const [error, setError] = useState('');
  const ids = { query: useId(), chat: useId(), order: useId() };
  const groupNames = new Map(groups.map((g) => [g.conversationId, g.name]));

  useEffect(() => {
    const q = query.trim();
    if (!q) {
      setHits([]);
      return;
    }
    let alive = true;
    const timer = setTimeout(() => {
      api
        .search({ query: q, order, limit: 50, ...(conversationId ? { conversationId } : {}), ...(backupId ? { backupId } : {}) })
        .then(
          (r) => {
            if (!alive) return;
            setHits(r.hits);
            setTruncated(r.truncated);
            setError('');
          },
          (err: unknown) => alive && setError(errorText(err)),
        );
    }, 150);
    return () => {
      alive = false;
      clearTimeout(timer);
    };
  }, [api, query, conversationId, order, backupId]);

  return (
    <Dialog title="Search messages" onClose={onClose} wide>
      <div className="search-controls">
        <div className="field grow">
          <label htmlFor={ids.query}>Search for</label>
          <input id={ids.query} type="search" value={query} onChange={(e) => setQuery(e.target.value)} autoFocus autoComplete="off" />
        </div>
        <div className="field">
          <label htmlFor={ids.chat}>In</label>
          <select id={ids.chat} value={conversationId} onChange={(e) => setConversationId(e.target.value)}>
            <option value="">All conversations</option>
            {conversations.map((c) => (
              <option key={c.id} value={c.id}>
                {c.title}
              </option>
            ))}
            {groups.map((g) => (
              <option key={g.conversationId} value={g.conversationId}>
                {g.name} (group)
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor={ids.order}>Order</label>
          <select id={ids.order} value={order} onChange={(e) => setOrder(e.target.value === 'relevance' ? 'relevance' : 'newest')}>
            <option value="newest">Newest first</option>
            <option value="relevance">Most relevant</option>
          </select>
        </div>
      </div>
      {error ? <p role="alert" className="error">{error}</p> : null}
      <ul className="search-results" aria-label="Search results">
        {hits.map((hit) => (
          <li key={hit.messageId}>
            {/* Named by its visible text (WCAG 2.5.3: a different aria-label would not match it). */}
            <button type="button" onClick={() => onPick(hit)}>
              <span className="hit-head">
                {groupNames.get(hit.conversationId) ?? hit.conversationTitle} · {dayLabel(hit.sentAt)} {formatTime(hit.sentAt)}
              </span>
              <span className="visually-hidden">: </span>
              <span className="hit-snippet">{hit.snippet.map((part, i) => (part.match ? <mark key={i}>{part.text}</mark> : <span key={i}>{part.text}</span>))}</span>
            </button>
          </li>
        ))}
      </ul>
      <p className="hint" role="status">
        {query.trim() ? `${hits.length}${truncated ? '+' : ''} result${hits.length === 1 ? '' : 's'}` : 'Type to search. Search works offline.'}
      </p>
    </Dialog>
  );
}
