// One relay connection of an unlocked, registered (or registering) account: the RelayClient
// with the vault's sealed outbox and permanent key, the mailbox and the prekey calls. Maps the
// client's temp-key states to the API's ConnectionState (phase, cause, expiry; never the key).
import { ApiError, type ConnectionState } from '../../shared/api.ts';
import type { RelayDescriptor } from '../../shared/protocol/descriptor.ts';
import { RelayClient, type ConnectionState as ClientState, type DurableOutcome } from '../net/client.ts';
import type { BlobCaller } from '../net/attachments.ts';
import { RelayKeys } from '../net/keys.ts';
import { RelayMailbox, type EnvelopeHandler } from '../net/mailbox.ts';
import { PermanentKey } from '../net/permanent-key.ts';
import { vaultOutboxStore, vaultPermanentKeyStore } from '../net/stores.ts';
import type { VaultHandle } from '../vault/api.ts';
import { ProtocolError } from '../../shared/protocol/errors.ts';

type ConnectionCause = NonNullable<ConnectionState['cause']>;

/**
 * Whether a client warning says the relay is not the one the descriptor names: its TLS
 * certificate does not match the pin, or its handshake signature does not verify under the
 * descriptor's identity key. Other handshake failures (a refused hello) are not a mismatch.
 */
export function isRelayIdentityMismatch(error: Error): boolean {
  return error instanceof ProtocolError && (error.code === 'CERT_PIN_MISMATCH' || error.code === 'RELAY_SIGNATURE_INVALID');
}

/**
 * What a call that needs the relay's answer gets while the vault's durability is lost: at once,
 * not after the relay timeout, since nothing goes to the relay until the lock. Its own code
 * (not VAULT_CORRUPT: the vault is intact, a write did not reach the disk); the sentence says what to do.
 */
export function diskWriteFailed(): ApiError {
  return new ApiError(
    'DISK_WRITE_FAILED',
    'Ephemera could not write to disk, so nothing goes to the relay until you lock and unlock. Free space or check the drive first.',
  );
}

export interface ConnectionHooks {
  onState(state: ConnectionState): void;
  onDurable(outcome: DurableOutcome): void;
  onEnvelope: EnvelopeHandler;
  /** Each time the connection becomes ready (first time and after every re-bind). */
  onReady(): void;
}

export class RelayConnection {
  readonly client: RelayClient;
  readonly mailbox: RelayMailbox;
  readonly keys: RelayKeys;
  private cause: ConnectionCause | null = null;
  private since = Date.now();
  private everReady = false;
  private readonly readyWaiters = new Set<() => void>();
  /** Set when the vault lost durability (a failed fsync or I/O error): the client stays stopped until the lock. */
  private halted = false;
  private readonly stopWatchingDurability: () => void;

  private constructor(
    readonly descriptor: RelayDescriptor,
    private readonly vault: VaultHandle,
    private readonly permanentKey: PermanentKey,
    private readonly hooks: ConnectionHooks,
  ) {
    this.client = new RelayClient({
      descriptor,
      permanentKey,
      outbox: vaultOutboxStore(vault),
      // Capped at 1 s: after a relay restart every client should be back within the wave budget (3 s).
      backoff: { baseMs: 200, maxMs: 1000 },
    });
    // The ack's fsync runs on libuv's pool (Vault.syncCommittedForAcks) while storing goes on, in
    // one trip: the vault keeps its -wal open per unlock (shared/wal-file.ts), since each trip's
    // completion waits for a turn between the mailbox's 15 ms slices. After a failed fsync it
    // rejects until the lock, so nothing more is acknowledged.
    this.mailbox = new RelayMailbox(this.client, () => vault.syncCommittedForAcks());
    this.keys = new RelayKeys(this.client);
    this.mailbox.onEnvelope(hooks.onEnvelope);
    this.client.on('state', (s, prev) => this.onClientState(s, prev));
    this.client.on('durable', (o) => hooks.onDurable(o));
    // Warnings carry no secrets and are mostly noise the state events already cover; the one
    // the user must see is a relay that is not the descriptor's (pin or identity key mismatch).
    this.client.on('warning', (error) => this.onClientWarning(error));
    // A write that may not have reached the disk: everything after it (texts, timer changes,
    // receipts, files, group sends, withdraws, acks) may build on what a power cut would undo,
    // e.g. a ratchet step whose message keys the relay would then already carry. So nothing more
    // goes to the relay in this unlock: the client stops as a lock's first step stops it; durable
    // sends stay in the sealed outbox and the next unlock's client sends them, once, in order.
    this.stopWatchingDurability = vault.onDurabilityLost(() => this.halt());
  }

  /**
   * The client's calls for callers that do not wait for a ready connection first (attachment
   * transfers): refused at once with the disk error while halted, where a call on the stopped
   * client would stay pending until the lock.
   */
  readonly calls: BlobCaller = {
    call: (method, params) => (this.halted ? Promise.reject(diskWriteFailed()) : this.client.call(method, params)),
  };

  private halt(): void {
    if (this.halted) return;
    this.halted = true;
    this.since = Date.now();
    // Callers waiting for a ready connection get the disk error now, not after their timeout.
    for (const w of [...this.readyWaiters]) w();
    this.hooks.onState(this.state());
    void this.client.stop();
  }

  static async open(descriptor: RelayDescriptor, vault: VaultHandle, hooks: ConnectionHooks): Promise<RelayConnection> {
    const key = await PermanentKey.loadOrCreate(vaultPermanentKeyStore(vault));
    return new RelayConnection(descriptor, vault, key, hooks);
  }

  async start(): Promise<void> {
    if (!this.halted) await this.client.start();
    this.hooks.onState(this.state());
  }

  async stop(): Promise<void> {
    this.stopWatchingDurability();
    await this.client.stop();
    this.permanentKey.dispose();
    for (const w of this.readyWaiters) w();
    this.readyWaiters.clear();
  }

  get isReady(): boolean {
    return !this.halted && this.client.state === 'ready';
  }

  /**
   * Resolves true when ready, false after `timeoutMs`; rejects with diskWriteFailed() once the
   * vault's durability is lost (at once, also for callers already waiting).
   */
  waitReady(timeoutMs: number): Promise<boolean> {
    if (this.halted) return Promise.reject(diskWriteFailed());
    if (this.isReady) return Promise.resolve(true);
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.readyWaiters.delete(done);
        if (this.halted) reject(diskWriteFailed());
        else resolve(this.isReady);
      };
      const timer = setTimeout(done, timeoutMs);
      this.readyWaiters.add(done);
    });
  }

  state(): ConnectionState {
    // Stopped for good in this unlock, whatever the client's state while its stop runs.
    if (this.halted) {
      return { phase: 'offline', cause: 'disk_write_failed', relayUrl: this.descriptor.url, tempKeyExpiresAt: null, outboxSize: this.outboxSize(), since: this.since };
    }
    const s = this.client.state;
    const expiresRelay = this.client.tempKeyExpiresAt;
    // Relay time to this device's clock.
    const expires = expiresRelay === undefined ? null : Math.max(0, Math.round(expiresRelay - (this.client.relayNow() - Date.now())));
    return {
      phase: s,
      cause: s === 'ready' ? null : this.cause,
      relayUrl: this.descriptor.url,
      tempKeyExpiresAt: s === 'ready' || s === 'rebinding' ? expires : null,
      outboxSize: this.outboxSize(),
      since: this.since,
    };
  }

  private outboxSize(): number {
    try {
      return this.vault.isUnlocked ? this.vault.outboxList().length : 0;
    } catch {
      return 0;
    }
  }

  private onClientWarning(error: Error): void {
    if (!isRelayIdentityMismatch(error) || this.cause === 'relay_identity_mismatch') return;
    this.cause = 'relay_identity_mismatch';
    this.hooks.onState(this.state());
  }

  private onClientState(s: ClientState, prev: ClientState): void {
    this.since = Date.now();
    if (this.halted) {
      this.hooks.onState(this.state());
      return;
    }
    // A relay that failed the pin / identity check stays the cause through the retry cycle
    // (offline, connecting, ...) until a connection is ready: "network error" would hide it.
    if (this.cause === 'relay_identity_mismatch' && s !== 'ready') {
      this.hooks.onState(this.state());
      return;
    }
    // The client re-binds only after the relay answered 404 for a key it still held.
    if (s === 'rebinding') this.cause = 'relay_forgot_key';
    else if (s === 'offline' && this.everReady) this.cause = 'network_error';
    else if (s === 'connecting' && prev === 'offline' && this.cause === null && this.everReady) this.cause = 'network_error';
    if (s === 'ready') {
      this.everReady = true;
      this.cause = null;
      for (const w of [...this.readyWaiters]) w();
    }
    this.hooks.onState(this.state());
    if (s === 'ready') this.hooks.onReady();
  }
}
