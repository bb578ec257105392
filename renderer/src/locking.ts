// A lock under way (main's 'locking' event, shared/api.ts): from the moment a lock is asked for
// until the lock screen, main refuses every call but the vault's own, drafts included. The app
// shows it (App.tsx's banner, the messenger made inert, the composers' "Locking…") so no text is
// sent into a refusal; a text in a composer stays there until the lock screen replaces it.
import { createContext, useContext } from 'react';
import type { EphemeraClient } from '../../shared/api/rpc.ts';
import { flushDrafts } from './chat/drafts.ts';

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
