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

/** The app's own fixed links (Settings' licence link), which a plain link activation may open. */
const APP_OWN_LINKS: ReadonlySet<string> = new Set(['https://www.gnu.org/licenses/agpl-3.0.html']);

/** What Electron tells the window-open handler (HandlerDetails), as far as the guard reads it. */
export interface WindowOpenRequest {
  url: string;
  /** window.open's features string; '' for a link activation (click, middle-click, keyboard). */
  features?: string;
}

/**
 * Whether a new-window request may go outside. A link from a message opens only through the
 * renderer's "Open this link?" dialog, which calls window.open(url, '_blank', 'noopener,noreferrer');
 * a link activated directly (a middle-click fires no click the renderer could stop) carries no
 * features, so only the app's own fixed links open that way. Then the allowlist in any case.
 */
export function mayOpenExternally(request: WindowOpenRequest): boolean {
  if (!isAllowedExternalUrl(request.url)) return false;
  const tokens = (request.features ?? '').toLowerCase().split(/[\s,]+/).map((t) => t.split('=')[0]);
  return tokens.includes('noopener') || APP_OWN_LINKS.has(request.url);
}

function openIfAllowed(request: WindowOpenRequest, openExternal: OpenExternal): void {
  if (mayOpenExternally(request)) void openExternal(request.url).catch(() => undefined);
}

export function hardenWebContents(contents: WebContents, openExternal: OpenExternal): void {
  // The UI is a single page: any navigation is either a link (open outside if allowed) or an attack.
  contents.on('will-navigate', (event, url) => {
    event.preventDefault();
    openIfAllowed({ url }, openExternal); // a navigation is never the confirmation path
  });
  contents.on('will-frame-navigate', (event) => {
    if (!event.isMainFrame) event.preventDefault();
  });
  contents.on('will-redirect', (event) => event.preventDefault());
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(({ url, features }) => {
    openIfAllowed({ url, features }, openExternal);
    return { action: 'deny' };
  });
}

export function hardenSession(session: Session): void {
  session.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  session.setPermissionCheckHandler(() => false);
  session.setDevicePermissionHandler(() => false);
  session.webRequest.onBeforeRequest((details, callback) => callback({ cancel: !isAllowedRequestUrl(details.url) }));
}
