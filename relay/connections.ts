// Connection admission and liveness, below the protocol. Every TCP connection counts against its
// source address (IPv6: its /64, which one host can fill with addresses) from its first byte, has
// a deadline to finish TLS, the WebSocket upgrade, a temp key and a bind, and once bound is closed
// after a keepalive timeout without a frame from the client. So idle sockets cost an attacker its
// own budget only, and cannot hold the relay's descriptors or other addresses' room.
import { isIPv4, isIPv6, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

export interface ConnectionLimits {
  /** Open connections per source address (IPv6: per /64 prefix). */
  maxPerAddress: number;
  /** From TCP accept to a successful bind on the connection. */
  handshakeTimeoutMs: number;
  /** A bound connection with no frame from the client for this long is closed. */
  idleTimeoutMs: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  maxPerAddress: 128,
  handshakeTimeoutMs: 10_000,
  // Clients ping after 30 s without a frame from the relay (main/net/client.ts keepaliveMs).
  idleTimeoutMs: 120_000,
};

/**
 * The budget key of a source address: an IPv4 address as is (also when IPv4-mapped), an IPv6
 * address by its /64 prefix (the first four groups, expanded, lower case).
 */
export function addressBucket(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped?.[1]) return mapped[1];
  if (isIPv4(address)) return address;
  const bare = address.split('%')[0] ?? address; // zone index: not part of the address
  if (!isIPv6(bare)) return address;
  const [head = '', tail] = bare.toLowerCase().split('::');
  const groups = (s: string): string[] => (s === '' ? [] : s.split(':'));
  let parts = groups(head);
  if (tail !== undefined) {
    const back = groups(tail);
    // An embedded IPv4 tail counts as two groups; it never reaches the first four.
    const backLen = back.reduce((n, g) => n + (g.includes('.') ? 2 : 1), 0);
    parts = [...parts, ...new Array<string>(Math.max(0, 8 - parts.length - backLen)).fill('0'), ...back];
  }
  return `${parts.slice(0, 4).map((g) => g.padStart(4, '0')).join(':')}::/64`;
}

/** One admitted connection; RelayCore marks it bound and records when the client last spoke. */
export interface TrackedConnection {
  readonly bucket: string;
  readonly openedAt: number;
  lastSeen: number;
  bound: boolean;
}

interface Entry extends TrackedConnection {
  socket: Socket;
}

export class ConnectionGuard {
  /** By `remoteAddress|remotePort`: the same for the TCP socket and the TLS socket on it. */
  private readonly open = new Map<string, Entry>();
  private readonly perBucket = new Map<string, number>();
  readonly stats = { refused: 0, handshakeTimeouts: 0, idleTimeouts: 0 };

  constructor(
    readonly limits: ConnectionLimits,
    private readonly now: () => number = () => performance.now(),
  ) {}

  private static key(socket: Socket): string | undefined {
    return socket.remoteAddress === undefined ? undefined : `${socket.remoteAddress}|${socket.remotePort ?? 0}`;
  }

  /** A new TCP connection. Over its address's cap it is destroyed at once and false returned. */
  admit(socket: Socket): boolean {
    const key = ConnectionGuard.key(socket);
    if (key === undefined) {
      socket.destroy();
      return false;
    }
    const bucket = addressBucket(socket.remoteAddress ?? '');
    const n = this.perBucket.get(bucket) ?? 0;
    if (n >= this.limits.maxPerAddress) {
      this.stats.refused++;
      socket.destroy();
      return false;
    }
    this.perBucket.set(bucket, n + 1);
    const at = this.now();
    const entry: Entry = { socket, bucket, openedAt: at, lastSeen: at, bound: false };
    this.open.set(key, entry);
    socket.once('close', () => {
      if (this.open.get(key) === entry) this.open.delete(key);
      const left = (this.perBucket.get(bucket) ?? 1) - 1;
      if (left > 0) this.perBucket.set(bucket, left);
      else this.perBucket.delete(bucket);
    });
    return true;
  }

  /** The admitted connection a (TLS) socket belongs to. */
  tracked(socket: Socket): TrackedConnection | undefined {
    const key = ConnectionGuard.key(socket);
    return key === undefined ? undefined : this.open.get(key);
  }

  /** Called by RelayCore for every frame from the client. */
  seen(c: TrackedConnection): void {
    c.lastSeen = this.now();
  }

  /** Closes connections past their handshake deadline (unbound) or keepalive timeout (bound). */
  sweep(): void {
    const now = this.now();
    for (const e of this.open.values()) {
      if (!e.bound && now - e.openedAt >= this.limits.handshakeTimeoutMs) {
        this.stats.handshakeTimeouts++;
        e.socket.destroy();
      } else if (e.bound && now - e.lastSeen >= this.limits.idleTimeoutMs) {
        this.stats.idleTimeouts++;
        e.socket.destroy();
      }
    }
  }

  /** How often sweep() must run for the deadlines to hold within a quarter of the shorter one. */
  get sweepIntervalMs(): number {
    return Math.max(25, Math.min(1000, Math.floor(Math.min(this.limits.handshakeTimeoutMs, this.limits.idleTimeoutMs) / 4)));
  }

  /** At shutdown: sockets still in TLS or before the upgrade would hold the server open. */
  closeAll(): void {
    for (const e of this.open.values()) e.socket.destroy();
  }

  openCount(bucket?: string): number {
    return bucket === undefined ? this.open.size : (this.perBucket.get(bucket) ?? 0);
  }
}
