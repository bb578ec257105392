// Locks down every web contents and the session: no navigation, no new windows, no webviews,
// no permission grants, no requests to anything but the app's own scheme.
import type { Session, WebContents } from 'electron';
import { isAllowedExternalUrl } from './external.ts';

export type OpenExternal = (url: string) => Promise<void>;

/** Schemes the renderer may load from; everything else (http, https, ws, file, ...) is cancelled. */
const ALLOWED_REQUEST_PROTOCOLS = new Set(['app:', 'data:', 'devtools:']);

export function isAllowedRequestUrl(url: string): boolean {
  try {
    return ALLOWED_REQUEST_PROTOCOLS.has(new URL(url).protocol);
  } catch {
    return false;
  }
}

function openIfAllowed(url: string, openExternal: OpenExternal): void {
  if (isAllowedExternalUrl(url)) void openExternal(url).catch(() => undefined);
}

export function hardenWebContents(contents: WebContents, openExternal: OpenExternal): void {
  // The UI is a single page: any navigation is either a link (open outside if allowed) or an attack.
  contents.on('will-navigate', (event, url) => {
    event.preventDefault();
    openIfAllowed(url, openExternal);
  });
  contents.on('will-frame-navigate', (event) => {
    if (!event.isMainFrame) event.preventDefault();
  });
  contents.on('will-redirect', (event) => event.preventDefault());
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(({ url }) => {
    openIfAllowed(url, openExternal);
    return { action: 'deny' };
  });
}

export function hardenSession(session: Session): void {
  session.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  session.setPermissionCheckHandler(() => false);
  session.setDevicePermissionHandler(() => false);
  session.webRequest.onBeforeRequest((details, callback) => callback({ cancel: !isAllowedRequestUrl(details.url) }));
}
