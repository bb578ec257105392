// The calling side of the browser host's WebSocket (main/web/host.ts), as an ApiTransport for
// createApiClient. Works with the browser's WebSocket and with the `ws` package (tests), via
// the small structural interface below, so shared/ needs neither DOM nor Node types.
// With `auth`, every socket first presents a credential in-band (shared/api/socket-auth.ts) and
// no call is sent before the host accepts it.
import { EventFrame, ResultFrame, type CallFrame } from './rpc.ts';
import { AUTH_REFUSED_CLOSE, AuthOkFrame, type AuthCredential, type AuthFrame } from './socket-auth.ts';
import type { ApiTransport } from './rpc.ts';
import type { MethodName } from '../api.ts';
import { CodedError } from '../errors.ts';

export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open' | 'error', listener: () => void): void;
  addEventListener(type: 'close', listener: (event: { code: number }) => void): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
}

const OPEN = 1;

/** 'refused': the host refused our credential; the transport gives up (a retry would be refused too). */
export type LinkState = 'connecting' | 'open' | 'closed' | 'refused';

export interface SocketAuth {
  /** The credential for the next socket; undefined when there is none (the link is then refused). */
  credential(): AuthCredential | undefined;
  /** Called with the session secret each time the host accepts a socket. */
  onSession(session: string): void;
  /** Called when the host refused the credential; true means another one is worth trying now. */
  onRefused?(): boolean;
}

/** Why calls fail once the host refused the credential; the message is shown to the user. */
export class SessionRefused extends CodedError<'SESSION_REFUSED'> {
  constructor() {
    super('SESSION_REFUSED', 'This address was already used or belongs to an earlier start of Ephemera (it works once). Restart Ephemera and open the new address it prints.');
  }
}

export interface SocketTransportOptions {
  connect: () => SocketLike;
  /** In-band authentication (the browser host requires it). */
  auth?: SocketAuth;
  /** First reconnect delay; doubles up to maxDelayMs. */
  retryDelayMs?: number;
  maxDelayMs?: number;
  setTimer?: (fn: () => void, ms: number) => unknown;
}

export interface SocketTransport extends ApiTransport {
  onLinkChange(listener: (state: LinkState) => void): () => void;
  close(): void;
}

export function createSocketTransport(options: SocketTransportOptions): SocketTransport {
  const setTimer = options.setTimer ?? ((fn: () => void, ms: number) => setTimeout(fn, ms));
  const baseDelay = options.retryDelayMs ?? 500;
  const maxDelay = options.maxDelayMs ?? 10_000;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; text: string; sent: boolean }>();
  const eventListeners = new Set<(name: unknown, payload: unknown) => void>();
  const linkListeners = new Set<(state: LinkState) => void>();
  let nextId = 1;
  let socket: SocketLike | undefined;
  let closedByUser = false;
  let refused = false;
  /** True once the current socket may carry calls (open, and accepted if `auth` is set). */
  let ready = false;
  let delay = baseDelay;

  const setLink = (state: LinkState) => linkListeners.forEach((l) => l(state));

  function flush(ws: SocketLike): void {
    ready = true;
    delay = baseDelay;
    setLink('open');
    for (const call of pending.values()) {
      if (!call.sent) {
        ws.send(call.text);
        call.sent = true;
      }
    }
  }

  function refuse(): void {
    refused = true;
    setLink('refused');
    for (const call of pending.values()) call.reject(new SessionRefused());
    pending.clear();
  }

  function open(): void {
    setLink('connecting');
    ready = false;
    const ws = options.connect();
    socket = ws;
    ws.addEventListener('open', () => {
      if (!options.auth) return flush(ws);
      const credential = options.auth.credential();
      if (!credential) {
        refuse();
        return ws.close(1000, 'no credential');
      }
      const frame: AuthFrame = { t: 'auth', ...credential };
      ws.send(JSON.stringify(frame));
    });
    ws.addEventListener('message', (event) => {
      if (typeof event.data !== 'string') return;
      let raw: unknown;
      try {
        raw = JSON.parse(event.data);
      } catch {
        return;
      }
      if (!ready) {
        const accepted = AuthOkFrame.safeParse(raw);
        if (options.auth && accepted.success) {
          options.auth.onSession(accepted.data.session);
          flush(ws);
        }
        return;
      }
      const result = ResultFrame.safeParse(raw);
      if (result.success) {
        const call = pending.get(result.data.id);
        if (call) {
          pending.delete(result.data.id);
          call.resolve(result.data.outcome);
        }
        return;
      }
      const ev = EventFrame.safeParse(raw);
      if (ev.success) eventListeners.forEach((l) => l(ev.data.name, ev.data.payload));
    });
    ws.addEventListener('close', (event) => {
      if (socket !== ws) return;
      socket = undefined;
      ready = false;
      if (refused) return;
      if (options.auth && event.code === AUTH_REFUSED_CLOSE) {
        if (options.auth.onRefused?.() !== true) return refuse();
        setLink('closed');
        return void setTimer(open, 0);
      }
      // Calls already sent may or may not have run; the caller decides whether to retry.
      for (const [id, call] of pending) {
        if (call.sent) {
          pending.delete(id);
          call.reject(new Error('connection closed'));
        }
      }
      setLink('closed');
      if (!closedByUser) {
        setTimer(open, delay);
        delay = Math.min(delay * 2, maxDelay);
      }
    });
  }

  open();

  return {
    call(method: MethodName, params: unknown): Promise<unknown> {
      return new Promise((resolve, reject) => {
        if (closedByUser) return reject(new Error('transport closed'));
        if (refused) return reject(new SessionRefused());
        const id = nextId++;
        const frame: CallFrame = { t: 'call', id, method, params };
        const text = JSON.stringify(frame);
        const sendNow = ready && socket !== undefined && socket.readyState === OPEN;
        pending.set(id, { resolve, reject, text, sent: sendNow });
        if (sendNow) socket!.send(text);
      });
    },
    subscribe(listener) {
      eventListeners.add(listener);
      return () => eventListeners.delete(listener);
    },
    onLinkChange(listener) {
      linkListeners.add(listener);
      return () => linkListeners.delete(listener);
    },
    close() {
      closedByUser = true;
      socket?.close(1000, 'closed');
      for (const call of pending.values()) call.reject(new Error('transport closed'));
      pending.clear();
    },
  };
}
