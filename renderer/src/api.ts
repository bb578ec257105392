// Connects the UI to the service: the Electron preload bridge when present, otherwise the
// browser host's WebSocket on the same origin. In browser mode nothing the browser sends by
// itself (a cookie, the URL) authenticates: the page takes the one-time launch code from the
// address's fragment (never sent to any server), removes it from the address bar, and presents
// it as the socket's first frame; the session secret the host returns is kept in sessionStorage
// (scoped to this origin and tab, so a reload still works and no other port can read it).
import { createContext, useContext } from 'react';
import type { ApiErrorCode } from '../../shared/api/errors.ts';
import { createApiClient, type ApiTransport, type EphemeraClient } from '../../shared/api/rpc.ts';
import { DISK_WRITE_FAILED_ADVICE } from './logic.ts';
import { launchCodeFromFragment, type AuthCredential } from '../../shared/api/socket-auth.ts';
import { createSocketTransport, type LinkState, type SocketLike } from '../../shared/api/socket-client.ts';

declare global {
  interface Window {
    ephemera?: ApiTransport;
  }
}

export interface Connection {
  client: EphemeraClient;
  mode: 'electron' | 'browser';
  onLinkChange(listener: (state: LinkState) => void): () => void;
}

const SESSION_KEY = 'ephemera.session';

function storedSession(): string | undefined {
  try {
    return sessionStorage.getItem(SESSION_KEY) ?? undefined;
  } catch {
    return undefined; // storage disabled: the session lives in page memory only
  }
}

function storeSession(session: string): void {
  try {
    sessionStorage.setItem(SESSION_KEY, session);
  } catch {
    // storage disabled: a reload will need a new launch address
  }
}

/** Takes the launch code out of the address (and history), so it is not left on screen. */
function takeLaunchCode(): string | undefined {
  const code = launchCodeFromFragment(location.hash);
  if (location.hash) history.replaceState(history.state, '', location.pathname + location.search);
  return code;
}

export function connect(): Connection {
  if (window.ephemera) {
    return { client: createApiClient(window.ephemera), mode: 'electron', onLinkChange: () => () => {} };
  }
  // A new launch address pasted into this tab only changes the fragment (no page load): load it.
  window.addEventListener('hashchange', () => {
    if (launchCodeFromFragment(location.hash)) location.reload();
  });
  // What to present, in order: a launch code in the address (a new start of Ephemera), then the
  // session this tab already holds (a reload, or the spent address opened again).
  const credentials: AuthCredential[] = [];
  const launchCode = takeLaunchCode();
  if (launchCode) credentials.push({ launchCode });
  const stored = storedSession();
  if (stored) credentials.push({ session: stored });
  const transport = createSocketTransport({
    connect: () => new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api`) as SocketLike,
    auth: {
      credential: () => credentials[0],
      onSession: (session) => {
        credentials.splice(0, credentials.length, { session });
        storeSession(session);
      },
      onRefused: () => {
        credentials.shift();
        return credentials.length > 0;
      },
    },
  });
  return { client: createApiClient(transport), mode: 'browser', onLinkChange: (l) => transport.onLinkChange(l) };
}

/** True in the Electron app, where main chooses backup files with the system's dialog (backupChooseFile). */
export function hasNativeFileDialogs(): boolean {
  return window.ephemera !== undefined;
}

export const ApiContext = createContext<EphemeraClient | null>(null);

export function useApi(): EphemeraClient {
  const client = useContext(ApiContext);
  if (!client) throw new Error('ApiContext missing');
  return client;
}

/**
 * Counts the times the page's link to the service came back (browser mode: the WebSocket
 * reconnected). Events sent while it was down are lost, so lists that follow events reload when
 * this changes instead of polling. Always 0 in Electron (IPC does not drop).
 */
export const ReconnectContext = createContext(0);

export function useReconnects(): number {
  return useContext(ReconnectContext);
}

/** Whether a call rejected with the API error `code`. */
export function isApiError(error: unknown, code: ApiErrorCode): boolean {
  return typeof error === 'object' && error !== null && 'code' in error && error.code === code;
}

/** A human sentence for anything a call rejected with. */
export function errorText(error: unknown): string {
  // A failed disk write: the same advice the connection indicator gives (what to do, not only what failed).
  if (isApiError(error, 'DISK_WRITE_FAILED')) return DISK_WRITE_FAILED_ADVICE;
  if (typeof error === 'object' && error !== null && 'message' in error && typeof error.message === 'string') return error.message;
  return 'Something went wrong.';
}
