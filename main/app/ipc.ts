// IPC wiring: one invoke channel for calls, one send channel for events. A call is served only
// when it comes from the main frame of our window showing an app:// page; anything else gets
// FORBIDDEN and the service is not touched. Params, results and events are validated by
// shared/api/rpc.ts on this side too.
import type { BrowserWindow, IpcMain, IpcMainInvokeEvent } from 'electron';
import type { EphemeraService } from '../../shared/api.ts';
import { checkEvent, dispatchCall, type CallOutcome } from '../../shared/api/rpc.ts';
import { CALL_CHANNEL, EVENT_CHANNEL, isAppUrl } from './channels.ts';

export function isTrustedSender(event: IpcMainInvokeEvent, window: BrowserWindow): boolean {
  if (window.isDestroyed()) return false;
  const contents = window.webContents;
  if (event.sender !== contents) return false;
  const frame = event.senderFrame;
  if (!frame || frame !== contents.mainFrame) return false;
  return isAppUrl(frame.url);
}

const FORBIDDEN: CallOutcome = { ok: false, error: { code: 'FORBIDDEN', message: 'This window is not allowed to use Ephemera.' } };

/** Returns a function that removes the handler and the event subscription. */
export function wireIpc(ipcMain: IpcMain, service: EphemeraService, window: BrowserWindow): () => void {
  ipcMain.handle(CALL_CHANNEL, async (event, method: unknown, params: unknown): Promise<CallOutcome> => {
    if (!isTrustedSender(event, window)) return FORBIDDEN;
    return dispatchCall(service, method, params);
  });
  const unsubscribe = service.subscribe((event) => {
    const checked = checkEvent(event.name, event.payload);
    if (!checked || window.isDestroyed()) return;
    const contents = window.webContents;
    // Never hand events to a page that is not ours (navigation is blocked; this is belt and braces).
    if (!isAppUrl(contents.mainFrame.url)) return;
    contents.send(EVENT_CHANNEL, checked.name, checked.payload);
  });
  return () => {
    ipcMain.removeHandler(CALL_CHANNEL);
    unsubscribe();
  };
}
