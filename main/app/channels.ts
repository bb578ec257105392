// IPC channel names shared by the main side (ipc.ts) and the preload. Nothing else crosses.
export const CALL_CHANNEL = 'ephemera:call';
export const EVENT_CHANNEL = 'ephemera:event';

/** The renderer is served only from this origin (a privileged custom scheme, not file://). */
export const APP_SCHEME = 'app';
export const APP_HOST = 'ephemera';
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;
export const APP_ENTRY_URL = `${APP_ORIGIN}/index.html`;

/** True for URLs of the app's own pages. */
export function isAppUrl(url: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.protocol === `${APP_SCHEME}:` && parsed.host === APP_HOST && parsed.username === '' && parsed.password === '';
  } catch {
    return false;
  }
}
