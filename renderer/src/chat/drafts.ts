// A chat's draft (screens/Chat.tsx, screens/GroupChat.tsx). Drafts are sealed in the vault by main (never
// localStorage): loaded when the chat opens, saved shortly after typing stops and when the chat
// closes, and handed to main when a lock begins (locking.ts).
import { useEffect, useRef, useState } from 'react';
import { useApi } from '../api.ts';

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

/**
 * The page's text of every chat typed in this session and not sent: the lock's answer (main's
 * lockDrafts), whether or not a save of it went out (one sent just before the lock is refused).
 * A composer emptied by hand goes too (blank: main deletes its draft); one emptied by a send is
 * not in the map. The 64 most recently typed, as the contract allows.
 */
export function pendingDrafts(): { conversationId: string; text: string }[] {
  return [...sessionDrafts].slice(-64).map(([conversationId, text]) => ({ conversationId, text }));
}

/** The open composers' "seal what was typed since the last save" (one per mounted chat). */
const unsavedDrafts = new Set<() => void>();
/** Seals every open composer's text typed since its last save now, not after the typing pause. */
export function flushDrafts(): void {
  for (const flush of unsavedDrafts) flush();
}

export function useDraft(conversationId: string, backupId: string | null) {
  const api = useApi();
  const [draft, setDraft] = useState('');
  const draftRef = useRef({ text: '', saved: '' });
  /**
   * Typed, sent or restored since the chat opened: the sealed draft loaded at opening is older than
   * that, so it must not come back (a text sent before it loaded was refilled into the emptied composer).
   */
  const touched = useRef(false);
  useEffect(() => {
    if (backupId) return;
    let alive = true;
    touched.current = false;
    const cached = sessionDrafts.get(conversationId);
    if (cached !== undefined) {
      draftRef.current = { text: cached, saved: draftRef.current.saved };
      setDraft(cached);
    } else
    api.getDraft({ conversationId }).then(
      ({ text }) => {
        if (!alive || text === '' || touched.current) return;
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
      if (draftRef.current.saved === draft) return; // flushed meanwhile
      draftRef.current.saved = draft;
      void api.setDraft({ conversationId, text: draft }).catch(() => undefined);
    }, DRAFT_SAVE_MS);
    return () => clearTimeout(timer);
  }, [api, conversationId, backupId, draft]);
  useEffect(() => {
    if (backupId) return;
    const flush = () => {
      const { text, saved } = draftRef.current;
      if (text === saved) return;
      draftRef.current.saved = text;
      void api.setDraft({ conversationId, text }).catch(() => undefined);
    };
    unsavedDrafts.add(flush);
    return () => void unsavedDrafts.delete(flush);
  }, [api, conversationId, backupId]);

  return {
    draft,
    /** Typing: the page's copy changes only here (effects may run twice on mount). */
    type(text: string) {
      // Re-inserted: the map's order is the order of last typing (pendingDrafts keeps the newest).
      touched.current = true;
      sessionDrafts.delete(conversationId);
      sessionDrafts.set(conversationId, text);
      setDraft(text);
    },
    /**
     * A send failed: its text comes back unless something new was typed meanwhile (true when it
     * did). Also when the chat was left while the send ran (this hook's state is gone then): the
     * session copy and the sealed copy get it, so reopening the chat shows it.
     */
    restore(text: string): boolean {
      if ((sessionDrafts.get(conversationId) ?? '') !== '') return false;
      touched.current = true;
      sessionDrafts.set(conversationId, text);
      void api.setDraft({ conversationId, text }).catch(() => undefined);
      setDraft((cur) => (cur === '' ? text : cur));
      return true;
    },
    /** At a send: empty everywhere, the sealed copy included. */
    clear() {
      touched.current = true;
      setDraft('');
      sessionDrafts.delete(conversationId);
      draftRef.current = { text: '', saved: '' };
      void api.setDraft({ conversationId, text: '' }).catch(() => undefined);
    },
  };
}
