// The calling side of the browser host's WebSocket (main/web/host.ts), as an ApiTransport for
// createApiClient. Works with the browser's WebSocket and with the `ws` package (tests), via
// the small structural interface below, so shared/ needs neither DOM nor Node types.
import { EventFrame, ResultFrame, type CallFrame } from './rpc.ts';
import type { ApiTransport } from './rpc.ts';
import type { MethodName } from '../api.ts';

export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open' | 'close' | 'error', listener: () => void): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
}

const OPEN = 1;

export type LinkState = 'connecting' | 'open' | 'closed';

export interface SocketTransportOptions {
  connect: () => SocketLike;
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
  let delay = baseDelay;

  const setLink = (state: LinkState) => linkListeners.forEach((l) => l(state));

  function open(): void {
    setLink('connecting');
    const ws = options.connect();
    socket = ws;
    ws.addEventListener('open', () => {
      delay = baseDelay;
      setLink('open');
      for (const call of pending.values()) {
        if (!call.sent) {
          ws.send(call.text);
          call.sent = true;
        }
      }
    });
    ws.addEventListener('message', (event) => {
      if (typeof event.data !== 'string') return;
      let raw: unknown;
      try {
        raw = JSON.parse(event.data);
      } catch {
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
    ws.addEventListener('close', () => {
      if (socket !== ws) return;
      socket = undefined;
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
        const id = nextId++;
        const frame: CallFrame = { t: 'call', id, method, params };
        const text = JSON.stringify(frame);
        const ready = socket !== undefined && socket.readyState === OPEN;
        pending.set(id, { resolve, reject, text, sent: ready });
        if (ready) socket!.send(text);
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
