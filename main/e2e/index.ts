// The E2E layer the messenger uses: Signal sessions with each contact on top of the sealed vault.
// See docs/e2e.md for the contract (trust policy, held envelopes, commit-after-store). The
// receive path is in receive.ts, held envelopes in held.ts, libsignal adapters in libsignal.ts.
import {
  CiphertextMessageType,
  ErrorCode,
  LibSignalErrorBase,
  ProtocolAddress,
  processPreKeyBundle,
  signalEncrypt,
} from '@signalapp/libsignal-client';
import PQueue from 'p-queue';
import { decodePreKeyBundle, type IdentityUpload, type OneTimePreKeysUpload, type PreKeyBundleWire } from '../../shared/protocol/prekey-bundle.ts';
import { decodeContent, encodeContent, type MessageContent } from './content.ts';
import { decodeEnvelope, type Envelope } from './envelope.ts';
import {
  AlreadyRegistered,
  BadBundle,
  E2eError,
  NoPendingIdentity,
  NoSession,
  NotRegistered,
  UntrustedIdentity,
} from '../../shared/protocol/e2e-errors.ts';
import { HeldEnvelopes, type HeldResult } from './held.ts';
import { E2eKv, type E2eVault } from './kv.ts';
import { ab, checkAddress, decryptError, forgetAddresses, nativeBundle, protocolAddress } from './libsignal.ts';
import { hasMeta, readMeta } from './meta.ts';
import {
  generateOneTimePreKeys,
  generateRegistration,
  rotateSignedPreKeyIfDue,
  type RegistrationResult,
  type RotationResult,
} from './prekeys.ts';
import { decryptSignal, storeThenCommit, type SignalStores } from './receive.ts';
import { safetyNumber } from './safety-number.ts';
import { GroupCrypto } from './sender-keys.ts';
import {
  VaultIdentityKeyStore,
  VaultKyberPreKeyStore,
  VaultPreKeyStore,
  VaultSessionStore,
  VaultSignedPreKeyStore,
  type IdentityStatus,
  type KnownIdentity,
} from './stores.ts';

export * from '../../shared/protocol/prekey-bundle.ts';
export * from './content.ts';
export * from './envelope.ts';
export * from '../../shared/protocol/e2e-errors.ts';
export { needsReplenish, ONE_TIME_PREKEY_COUNT, REPLENISH_THRESHOLD, SIGNED_PREKEY_ROTATION_MS, RETIRED_PREKEY_GRACE_MS } from './prekeys.ts';
export type { RegistrationResult, RotationResult } from './prekeys.ts';
export { formatSafetyNumber, safetyNumber } from './safety-number.ts';
export type { E2eVault } from './kv.ts';
export type { IdentityStatus, KnownIdentity } from './stores.ts';
export { MAX_HELD_PER_CONTACT, type HeldResult } from './held.ts';

const registering = new WeakSet<E2eVault>();

export class E2e {
  private readonly kv: E2eKv;
  private readonly identityStore: VaultIdentityKeyStore;
  private readonly sessionStore: VaultSessionStore;
  private readonly preKeyStore: VaultPreKeyStore;
  private readonly signedPreKeyStore: VaultSignedPreKeyStore;
  private readonly kyberPreKeyStore: VaultKyberPreKeyStore;
  /** The stores and local address a decrypt runs with. */
  private readonly stores: SignalStores;
  private readonly held: HeldEnvelopes;
  private readonly now: () => number;
  // libsignal's store calls are async; one operation at a time keeps load-modify-save of
  // session records from interleaving.
  private readonly queue = new PQueue({ concurrency: 1 });
  private local: { name: string; deviceId: number } | undefined;

  private constructor(vault: E2eVault, now: () => number, known?: KnownIdentity) {
    this.kv = new E2eKv(vault);
    this.now = now;
    this.identityStore = new VaultIdentityKeyStore(this.kv, now, known);
    this.sessionStore = new VaultSessionStore(this.kv);
    this.preKeyStore = new VaultPreKeyStore(this.kv);
    this.signedPreKeyStore = new VaultSignedPreKeyStore(this.kv);
    this.kyberPreKeyStore = new VaultKyberPreKeyStore(this.kv);
    this.stores = {
      session: this.sessionStore,
      identity: this.identityStore,
      preKey: this.preKeyStore,
      signedPreKey: this.signedPreKeyStore,
      kyberPreKey: this.kyberPreKeyStore,
      local: () => this.localAddress(),
      signal: (fn) => this.signal(fn),
    };
    this.held = new HeldEnvelopes(this.kv);
  }

  /**
   * Creates the identity and all prekeys in the (unlocked) vault. Upload `identity` and every
   * chunk of `chunkOneTimePreKeys(oneTimePreKeys)` to the relay. Throws AlreadyRegistered.
   */
  static async register(
    vault: E2eVault,
    localName: string,
    options: { now?: () => number; oneTimeCount?: number; knownIdentity?: KnownIdentity } = {},
  ): Promise<{ e2e: E2e; registration: RegistrationResult }> {
    checkAddress(localName);
    // Registration yields while it writes; a second call meanwhile would interleave two identities.
    if (registering.has(vault)) throw new AlreadyRegistered();
    registering.add(vault);
    try {
      const now = options.now ?? Date.now;
      const e2e = new E2e(vault, now, options.knownIdentity);
      const registration = await generateRegistration(e2e.kv, localName, now(), options.oneTimeCount);
      return { e2e, registration };
    } finally {
      registering.delete(vault);
    }
  }

  /**
   * Opens the E2E state of an unlocked, registered vault. Throws NotRegistered. `knownIdentity`
   * gives the key the profile already holds for a handle the identity store has no record of
   * (e.g. a contact restored from a backup): it is then the trusted key, and any other is a change.
   */
  static open(vault: E2eVault, options: { now?: () => number; knownIdentity?: KnownIdentity } = {}): E2e {
    const e2e = new E2e(vault, options.now ?? Date.now, options.knownIdentity);
    if (!hasMeta(e2e.kv)) throw new NotRegistered();
    return e2e;
  }

  private groupCrypto: GroupCrypto | undefined;

  /** Sender keys for group messages (main/e2e/sender-keys.ts), on the same vault store and queue. */
  get groups(): GroupCrypto {
    this.groupCrypto ??= new GroupCrypto({ kv: this.kv, identity: this.identityStore, exclusive: (fn) => this.exclusive(fn), local: () => this.localAddress() });
    return this.groupCrypto;
  }

  static isRegistered(vault: E2eVault): boolean {
    return hasMeta(new E2eKv(vault));
  }

  get localName(): string {
    return readMeta(this.kv).localName;
  }

  get registrationId(): number {
    return readMeta(this.kv).registrationId;
  }

  /** Our public identity key (33 bytes). */
  get identityKey(): Uint8Array<ArrayBuffer> {
    return this.identityStore.identityKeyPair().publicKey.serialize();
  }

  /** Processes a bundle fetched from the relay. Throws BadBundle, or UntrustedIdentity (held: false) if the key changed. */
  startSession(address: string, bundle: PreKeyBundleWire | Uint8Array): Promise<void> {
    return this.exclusive(async () => {
      const wire = bundle instanceof Uint8Array ? decodePreKeyBundle(bundle) : bundle;
      const remote = protocolAddress(address);
      const native = nativeBundle(wire);
      try {
        await this.signal(() => processPreKeyBundle(native, remote, this.localAddress(), this.sessionStore, this.identityStore, new Date(this.now())));
      } catch (error) {
        if (LibSignalErrorBase.is(error, ErrorCode.UntrustedIdentity)) throw this.untrusted(address, false, error);
        // Bad signatures and malformed keys end here: the bundle did not come from that identity.
        if (error instanceof LibSignalErrorBase) throw new BadBundle(error.message, { cause: error });
        throw error;
      }
    });
  }

  /** True when we can encrypt to `address` without a bundle. */
  hasSession(address: string): Promise<boolean> {
    return this.exclusive(async () => {
      const record = await this.sessionStore.getSession(protocolAddress(address));
      return record !== null && record.hasCurrentState(new Date(this.now()));
    });
  }

  /**
   * Encrypts for `address`. The session advance is stored before this returns, so a message key
   * is never used twice. Throws NoSession, or UntrustedIdentity while a change is pending.
   */
  encryptFor(address: string, plaintext: Uint8Array): Promise<Envelope> {
    return this.exclusive(() => this.encryptLocked(address, plaintext));
  }

  /**
   * encodeContent + encrypt, then `store(envelope)` and the session change in one vault
   * transaction: one commit for what a send writes (its message, outbox entry and the ratchet
   * step) instead of one each. `store` is synchronous and must not call back into this object.
   * If it throws, nothing changed: the session is as it was. `relaxed`: committed without an
   * fsync wait (Vault.relaxedTransaction); the caller then lets nothing of it reach the relay
   * before an fsync made it durable (messenger/outgoing.ts DurableHandoff), so a ratchet step a
   * power cut could undo is never used on the wire.
   */
  sendContentThen<T>(address: string, content: MessageContent, store: (envelope: Envelope) => T, options: { relaxed?: boolean } = {}): Promise<T> {
    const plaintext = encodeContent(content);
    return this.exclusive(async () => {
      const staged = await this.kv.staged(() => this.encryptLocked(address, plaintext));
      let committed = false;
      try {
        const vault = this.kv.vault;
        const tx = (options.relaxed ? vault.relaxedTransaction?.bind(vault) : undefined) ?? vault.transaction?.bind(vault) ?? (<R>(fn: () => R): R => fn());
        return tx(() => {
          const result = store(staged.result);
          staged.commit();
          committed = true;
          return result;
        });
      } finally {
        if (!committed) staged.discard();
      }
    });
  }

  private async encryptLocked(address: string, plaintext: Uint8Array): Promise<Envelope> {
    const remote = protocolAddress(address);
    const record = await this.sessionStore.getSession(remote);
    if (!record || !record.hasCurrentState(new Date(this.now()))) throw new NoSession(address);
    try {
      const message = await this.signal(() =>
        signalEncrypt(ab(plaintext), remote, this.localAddress(), this.sessionStore, this.identityStore, new Date(this.now())),
      );
      const type = message.type() === CiphertextMessageType.PreKey ? 'prekey' : 'message';
      return { type, body: message.serialize() };
    } catch (error) {
      if (LibSignalErrorBase.is(error, ErrorCode.UntrustedIdentity)) throw this.untrusted(address, false, error);
      throw error;
    }
  }

  /** Decrypts and commits the session change at once. Prefer `receive` when storing the result. */
  decryptFrom(address: string, envelope: Envelope | Uint8Array): Promise<Uint8Array> {
    // A copy: receive zeroes its plaintext buffer after the callback.
    return this.receive(address, envelope, (plaintext) => plaintext.slice());
  }

  /**
   * Decrypts, hands the plaintext to `store` (which must persist it durably and must not call
   * back into this object), and only then commits the session change. If `store` throws, or
   * the process dies before it returns, nothing changed: a redelivery decrypts again.
   * Throws DuplicateMessage for a message already committed, BadMessage, NoSession, or
   * UntrustedIdentity (the envelope is then held sealed in the vault until acceptIdentity +
   * releaseHeld, so the caller may acknowledge it to the relay).
   */
  receive<T>(address: string, envelope: Envelope | Uint8Array, store: (plaintext: Uint8Array) => T | Promise<T>): Promise<T> {
    return this.exclusive(() => this.receiveLocked(address, envelope, store, true));
  }

  /** encodeContent + encryptFor. */
  sendContent(address: string, content: MessageContent): Promise<Envelope> {
    return this.encryptFor(address, encodeContent(content));
  }

  /** receive + decodeContent. Content that does not decode throws BadContent / UnsupportedContent (the session change is committed: the message is consumed). */
  async receiveContent<T>(address: string, envelope: Envelope | Uint8Array, store: (content: MessageContent) => T | Promise<T>): Promise<T> {
    let contentError: unknown;
    // Not async: a synchronous store then runs in the same transaction as the session change.
    const result = await this.receive(address, envelope, (plaintext): T | Promise<T> | undefined => {
      let content: MessageContent;
      try {
        content = decodeContent(plaintext);
      } catch (error) {
        contentError = error;
        return undefined;
      }
      return store(content);
    });
    if (contentError !== undefined) throw contentError;
    return result as T;
  }

  /**
   * Changes whenever any contact's identity record may have changed (a new, accepted or pending
   * key): while it stays the same, an identityStatus read earlier still holds.
   */
  get identityGeneration(): number {
    return this.kv.identityWrites;
  }

  /** At lock: drops the session records kept parsed between operations (E2eKv.parsed), so nothing refers to them any more, and the contacts' addresses kept (libsignal.ts). */
  forgetCachedSessions(): void {
    this.kv.forgetParsedRecords();
    forgetAddresses();
  }

  identityStatus(address: string): IdentityStatus {
    return this.identityStore.status(protocolAddress(address));
  }

  /**
   * The user accepted the new safety number: the pending key becomes trusted, the old session
   * is dropped (it was with the old key). Pass the key the user was shown so a key that changed
   * again in the meantime is not accepted by mistake. Then call releaseHeld, and startSession
   * with a fresh bundle before sending if hasSession is false.
   */
  acceptIdentity(address: string, expectedKey?: Uint8Array): Promise<Uint8Array> {
    return this.exclusive(async () => {
      const remote = protocolAddress(address);
      const status = this.identityStore.status(remote);
      if (!status.pending) throw new NoPendingIdentity(address);
      if (expectedKey && Buffer.compare(status.pending, expectedKey) !== 0) throw new NoPendingIdentity(address, 'the pending key is not the one that was shown');
      const accepted = this.identityStore.accept(remote);
      if (!accepted) throw new NoPendingIdentity(address);
      this.sessionStore.deleteSession(remote);
      return accepted;
    });
  }

  heldCount(address: string): number {
    return this.held.keys(address).length;
  }

  /**
   * Decrypts envelopes held while `address`'s identity was untrusted, oldest first, each through
   * `store` like `receive`. Stops (keeping the rest) if the identity is still untrusted.
   */
  releaseHeld<T>(address: string, store: (plaintext: Uint8Array) => T | Promise<T>): Promise<HeldResult<T>[]> {
    return this.exclusive(async () => {
      const results: HeldResult<T>[] = [];
      for (const key of this.held.keys(address)) {
        const envelope = this.held.read(key);
        if (!envelope) continue;
        try {
          const value = await this.receiveLocked(address, envelope, store, false);
          results.push({ ok: true, value });
        } catch (error) {
          if (error instanceof UntrustedIdentity) break;
          if (!(error instanceof E2eError)) throw error;
          results.push({ ok: false, error });
        }
        this.held.drop(key);
      }
      return results;
    });
  }

  /** releaseHeld + decodeContent; content that does not decode is reported (and consumed) like in receiveContent. */
  async releaseHeldContent<T>(address: string, store: (content: MessageContent) => T | Promise<T>): Promise<HeldResult<T>[]> {
    type Decoded = { value: T } | { error: E2eError };
    const results = await this.releaseHeld<Decoded>(address, async (plaintext) => {
      let content: MessageContent;
      try {
        content = decodeContent(plaintext);
      } catch (error) {
        if (error instanceof E2eError) return { error };
        throw error;
      }
      return { value: await store(content) };
    });
    return results.map((r): HeldResult<T> => {
      if (!r.ok || r.value === undefined) return r.error ? { ok: false, error: r.error } : { ok: false };
      return 'error' in r.value ? { ok: false, error: r.value.error } : { ok: true, value: r.value.value };
    });
  }

  /** Drops held envelopes (the user rejected the new identity). */
  discardHeld(address: string): Promise<number> {
    return this.exclusive(async () => {
      const keys = this.held.keys(address);
      for (const key of keys) this.held.drop(key);
      return keys.length;
    });
  }

  /** Drops the session (e.g. the contact was removed). Identity records stay. */
  forgetSession(address: string): Promise<void> {
    return this.exclusive(async () => this.sessionStore.deleteSession(protocolAddress(address)));
  }

  /** Safety number with `address`'s trusted key (or the pending one, to show the user what they would accept). */
  safetyNumberWith(address: string, which: 'trusted' | 'pending' = 'trusted'): string | undefined {
    const status = this.identityStatus(address);
    const theirs = which === 'trusted' ? status.trusted : status.pending;
    if (!theirs) return undefined;
    return safetyNumber(this.localName, this.identityKey, address, theirs);
  }

  /** Makes `count` more one-time prekeys of each kind; upload the result (chunked). */
  generateOneTimePreKeys(count: number): Promise<OneTimePreKeysUpload> {
    return this.exclusive(async () => {
      const identity = this.identityStore.identityKeyPair();
      return generateOneTimePreKeys(this.kv, identity.privateKey, count, this.now());
    });
  }

  /** One-time prekeys still held locally (unused). */
  localPreKeyCounts(): { preKeys: number; kyberPreKeys: number } {
    return { preKeys: this.preKeyStore.count(), kyberPreKeys: this.kyberPreKeyStore.count() };
  }

  /** Call at start-up and daily; upload `identity` when rotated. */
  rotateSignedPreKeyIfDue(options: { intervalMs?: number; graceMs?: number; force?: boolean } = {}): Promise<RotationResult> {
    return this.exclusive(async () => rotateSignedPreKeyIfDue(this.kv, this.identityStore.identityKeyPair(), this.now(), options));
  }

  /** The registration's public identity part, e.g. to re-upload after the relay lost it. */
  currentIdentityUpload(): Promise<IdentityUpload> {
    return this.exclusive(async () => {
      const meta = readMeta(this.kv);
      const signed = await this.signedPreKeyStore.getSignedPreKey(meta.signedPreKeyId);
      const kyber = await this.kyberPreKeyStore.getKyberPreKey(meta.kyberLastResortId);
      return {
        v: 1,
        registrationId: meta.registrationId,
        deviceId: meta.deviceId,
        identityKey: this.identityKey,
        signedPreKey: { id: signed.id(), publicKey: signed.publicKey().serialize(), signature: signed.signature() },
        kyberLastResort: { id: kyber.id(), publicKey: kyber.publicKey().serialize(), signature: kyber.signature() },
      };
    });
  }

  private async receiveLocked<T>(
    address: string,
    input: Envelope | Uint8Array,
    store: (plaintext: Uint8Array) => T | Promise<T>,
    holdOnUntrusted: boolean,
  ): Promise<T> {
    const envelope = input instanceof Uint8Array ? decodeEnvelope(input) : input;
    const remote = protocolAddress(address);
    let staged: { result: Uint8Array; commit: () => void; discard: () => void };
    try {
      staged = await this.kv.staged(() => decryptSignal(this.stores, remote, envelope));
    } catch (error) {
      if (LibSignalErrorBase.is(error, ErrorCode.UntrustedIdentity)) {
        const held = holdOnUntrusted && this.held.hold(address, envelope, this.now());
        throw this.untrusted(address, held, error);
      }
      throw decryptError(error, address);
    }
    return storeThenCommit(this.kv, staged, store);
  }

  private untrusted(address: string, held: boolean, cause: unknown): UntrustedIdentity {
    const pending = this.identityStore.status(protocolAddress(address)).pending;
    return new UntrustedIdentity(address, pending ?? new Uint8Array(0), held, { cause });
  }

  private localAddress(): ProtocolAddress {
    // Name and device never change after registration.
    if (!this.local) {
      const meta = readMeta(this.kv);
      this.local = { name: meta.localName, deviceId: meta.deviceId };
    }
    return ProtocolAddress.new(this.local.name, this.local.deviceId);
  }

  /** Runs a libsignal call; a vault failure inside one of its store callbacks is rethrown as itself. */
  private async signal<T>(fn: () => Promise<T>): Promise<T> {
    this.kv.takeFailure();
    try {
      return await fn();
    } catch (error) {
      const failure = this.kv.takeFailure();
      throw failure ?? error;
    }
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.queue.add(fn);
  }
}
