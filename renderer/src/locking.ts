// A lock under way (main's 'locking' event, shared/api.ts): from the moment a lock is asked for
// until the lock screen, main refuses every call but the vault's own, drafts included. The app
// shows it (App.tsx's banner, the messenger made inert, the composers' "Locking…") so no text is
// sent into a refusal; a text in a composer stays there until the lock screen replaces it.
import { createContext, useContext } from 'react';
import type { EphemeraClient } from '../../shared/api/rpc.ts';
import { flushDrafts, pendingDrafts } from './chat/drafts.ts';

export const LockingContext = createContext(false);

/** True while a lock is under way. */
export function useLocking(): boolean {
  return useContext(LockingContext);
}

/**
 * A lock this window asks for (the Lock button, Ctrl+Shift+L, the idle timer): the drafts typed
 * since their last save are sealed first. Sent ahead of the lock on the same channel, they arrive
 * before main starts refusing; a lock main starts itself (its idle timer, quit) cannot wait for them.
 */
export function lockApp(api: EphemeraClient): Promise<void> {
  flushDrafts();
  return api.lock().catch(() => undefined);
}

/**
 * Main waits for this window at every lock (up to 1 s) once it has called lockDrafts: so it says
 * so at start, and answers each lock that begins ('locking' event) with its composers' text,
 * typed in the draft save's pause too (idle and quit locks start in main, not here).
 */
export function answerLocks(api: EphemeraClient): () => void {
  api.lockDrafts({ drafts: [] }).catch(() => undefined);
  return api.on('locking', ({ underWay }) => {
    if (underWay) api.lockDrafts({ drafts: pendingDrafts() }).catch(() => undefined);
  });
}
