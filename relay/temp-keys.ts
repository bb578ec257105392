// The relay's RAM-only tables: temp keys by id, the devices bound to them, bound keys kept
// after their connection closed (so a client can resume), and bind nonces. Nothing here is
// ever written to disk; a forgotten key is zeroed and its client gets 404 and re-binds.
import { ProtocolError } from '../shared/protocol/errors.ts';
import type { BoundDevice, Conn, TempKeyEntry } from './context.ts';

const MAX_BIND_NONCES = 2_000_000;
const MAX_IDLE_BOUND_KEYS = 200_000;

export interface TempKeyLimits {
  /** Bind nonces remembered (oldest evicted beyond this). */
  maxBindNonces?: number | undefined;
  /** Bound temp keys kept without a connection (oldest forgotten beyond this). */
  maxIdleBoundKeys?: number | undefined;
}

export class TempKeys {
  private readonly keys = new Map<string, TempKeyEntry>();
  /** Devices with a bound key, by permanent key id (hex). */
  readonly devices = new Map<string, BoundDevice>();
  /** Bound keys whose connection closed, oldest first: kept so a client can resume, but capped. */
  private readonly idleBound = new Set<TempKeyEntry>();
  private readonly bindNonces = new Map<string, number>();
  private readonly maxBindNonces: number;
  private readonly maxIdleBoundKeys: number;

  /** `held.sealFor` seals answers already produced under a key before it is zeroed. */
  constructor(limits: TempKeyLimits, private readonly held: { sealFor(entry: TempKeyEntry): void }) {
    this.maxBindNonces = limits.maxBindNonces ?? MAX_BIND_NONCES;
    this.maxIdleBoundKeys = limits.maxIdleBoundKeys ?? MAX_IDLE_BOUND_KEYS;
  }

  get size(): number {
    return this.keys.size;
  }

  get(idHex: string): TempKeyEntry | undefined {
    return this.keys.get(idHex);
  }

  /** True while `entry` is still the key stored under its id (not forgotten). */
  holds(entry: TempKeyEntry): boolean {
    return this.keys.get(entry.idHex) === entry;
  }

  add(entry: TempKeyEntry): void {
    if (this.keys.has(entry.idHex)) throw new ProtocolError('HANDSHAKE_INVALID', 'temp key id collision');
    this.keys.set(entry.idHex, entry);
  }

  /** A record for `entry` arrived on `conn`, not the connection it was on: the key moves there. */
  moveTo(entry: TempKeyEntry, conn: Conn): void {
    entry.conn?.keys.delete(entry);
    this.idleBound.delete(entry);
    entry.conn = conn;
    conn.keys.add(entry);
  }

  /** Remembers a bind nonce until the key it bound would expire; false when seen before. */
  rememberBindNonce(nonce: Buffer, until: number): boolean {
    const k = nonce.toString('hex');
    if (this.bindNonces.has(k)) return false;
    // Full: evict the oldest rather than refuse. Refusing would let anyone who mints permanent
    // keys lock every client out of binding; evicting is safe because a bind message also names
    // the temp key id and transcript hash of the one key it arrives on, so an old message whose
    // nonce was forgotten still cannot bind any other key. (The sweeper drops expired ones.)
    while (this.bindNonces.size >= this.maxBindNonces) {
      const oldest = this.bindNonces.keys().next().value;
      if (oldest === undefined) break;
      this.bindNonces.delete(oldest);
    }
    this.bindNonces.set(k, until);
    return true;
  }

  forget(entry: TempKeyEntry): void {
    // Answers already produced under this key go out under it, sealed before it is zeroed.
    this.held.sealFor(entry);
    this.keys.delete(entry.idHex);
    this.idleBound.delete(entry);
    entry.endpoint.zero();
    entry.conn?.keys.delete(entry);
    const d = entry.boundTo;
    if (d && d.key === entry) {
      d.key = undefined;
      d.inflight.clear();
      this.devices.delete(d.permHex);
    }
  }

  /** `conn` closed: its bound keys wait (capped) for the client to return, unbound ones go. */
  closed(conn: Conn): void {
    for (const entry of conn.keys) {
      entry.conn = undefined;
      if (entry.boundTo) {
        entry.boundTo.inflight.clear();
        entry.boundTo.backlog = true;
        this.idleBound.add(entry);
      }
    }
    // Anyone can mint permanent keys and bind; without a cap, keys of closed connections would
    // pile up in RAM until they expire (up to max_ttl). Forgetting the oldest is safe: its
    // client gets 404 on return and re-binds.
    for (const oldest of this.idleBound) {
      if (this.idleBound.size <= this.maxIdleBoundKeys) break;
      this.forget(oldest);
    }
    for (const entry of conn.unbound) if (!entry.boundTo) this.forget(entry);
    conn.keys.clear();
    conn.unbound = [];
  }

  /** Forgets expired keys and drops expired bind nonces. */
  sweep(now: number): void {
    for (const entry of this.keys.values()) if (entry.expiresAt <= now) this.forget(entry);
    for (const [k, until] of this.bindNonces) if (until <= now) this.bindNonces.delete(k);
  }

  /** Forgets (zeroes) every temp key. */
  forgetAll(): void {
    for (const entry of [...this.keys.values()]) this.forget(entry);
  }
}
