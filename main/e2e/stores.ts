// libsignal's store interfaces implemented on the sealed vault kv (through E2eKv).
//
// Trust policy (IdentityKeyStore): trust on first use; after that only the stored key is
// trusted. A different key is recorded as *pending* and refused in both directions until the
// user accepts it (E2e.acceptIdentity). While a change is pending, sending is refused even on an
// old session, so nothing goes out before the user has seen the new safety number.
// "First use" is the first key this profile knows of: a key it learned elsewhere (a contact
// restored from a backup, see KnownIdentity) counts as the trusted key, so a different key
// served at the first session is a change the user must accept, never trusted silently.
import {
  Direction,
  IdentityChange,
  IdentityKeyPair,
  IdentityKeyStore,
  KyberPreKeyRecord,
  KyberPreKeyStore,
  PreKeyRecord,
  PreKeyStore,
  PrivateKey,
  ProtocolAddress,
  PublicKey,
  SessionRecord,
  SessionStore,
  SignedPreKeyRecord,
  SignedPreKeyStore,
} from '@signalapp/libsignal-client';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { E2eKv, NS, SECRET, type Namespace } from './kv.ts';
import { NotRegistered } from '../../shared/protocol/e2e-errors.ts';
import { readMeta } from './meta.ts';

const identityRecordSchema = z.object({
  address: z.string(),
  trusted: z.base64(),
  pending: z.base64().optional(),
  /** ms since epoch when the pending key was first seen. */
  pendingSince: z.number().optional(),
});
export type IdentityRecord = z.infer<typeof identityRecordSchema>;

export interface IdentityStatus {
  /** Trusted identity key (33 bytes), undefined before first contact. */
  trusted: Uint8Array | undefined;
  /** A different key seen since, not yet accepted. */
  pending: Uint8Array | undefined;
  pendingSince: number | undefined;
}

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');
const unb64 = (s: string): Uint8Array<ArrayBuffer> => new Uint8Array(Buffer.from(s, 'base64'));
const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Deserializes secret-bearing bytes read from the vault, then zeroes them. */
function consume<T>(raw: Uint8Array, parse: (bytes: Uint8Array<ArrayBuffer>) => T): T {
  const bytes = raw.buffer instanceof ArrayBuffer ? (raw as Uint8Array<ArrayBuffer>) : new Uint8Array(raw);
  try {
    return parse(bytes);
  } finally {
    bytes.fill(0);
    raw.fill(0);
  }
}

/** Writes serialized secret-bearing bytes to the vault, then zeroes them. */
/** The record in `raw`, parsed (and the bytes wiped), or an error saying what libsignal asked for in vain. */
function required<T>(raw: Uint8Array | undefined, missing: string, parse: (bytes: Uint8Array<ArrayBuffer>) => T): T {
  if (!raw) throw new Error(missing);
  return consume(raw, parse);
}

function store(kv: E2eKv, ns: Namespace, key: string, bytes: Uint8Array): void {
  try {
    kv.set(ns, key, bytes);
  } finally {
    bytes.fill(0);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

const MAX_CACHED_RECORDS = 10_000;

/** The identity key the profile already knows for a contact (by handle), outside the libsignal store. */
export type KnownIdentity = (name: string) => Uint8Array | undefined;

export class VaultIdentityKeyStore extends IdentityKeyStore {
  private readonly kv: E2eKv;
  private readonly now: () => number;
  private readonly known: KnownIdentity | undefined;

  constructor(kv: E2eKv, now: () => number = Date.now, known?: KnownIdentity) {
    super();
    this.kv = kv;
    this.now = now;
    this.known = known;
  }

  override async getIdentityKey(): Promise<PrivateKey> {
    return this.identityKeyPair().privateKey;
  }

  override async getIdentityKeyPair(): Promise<IdentityKeyPair> {
    return this.identityKeyPair();
  }

  identityKeyPair(): IdentityKeyPair {
    const raw = this.kv.secret(SECRET.identity);
    if (!raw) this.kv.fail(new NotRegistered());
    try {
      return IdentityKeyPair.deserialize(new Uint8Array(raw));
    } finally {
      raw.fill(0);
    }
  }

  override async getLocalRegistrationId(): Promise<number> {
    return readMeta(this.kv).registrationId;
  }

  override async saveIdentity(address: ProtocolAddress, key: PublicKey): Promise<IdentityChange> {
    const name = address.toString();
    const serialized = key.serialize();
    const record = this.record(name);
    if (!record) {
      this.write({ address: name, trusted: b64(serialized) });
      return IdentityChange.NewOrUnchanged;
    }
    if (sameBytes(unb64(record.trusted), serialized)) return IdentityChange.NewOrUnchanged;
    // Only reachable for a key isTrustedIdentity accepted, i.e. never for an unaccepted change.
    this.write({ address: name, trusted: b64(serialized) });
    return IdentityChange.ReplacedExisting;
  }

  override async isTrustedIdentity(address: ProtocolAddress, key: PublicKey, direction: Direction): Promise<boolean> {
    const name = address.toString();
    const record = this.record(name);
    if (!record) return true;
    const serialized = key.serialize();
    if (sameBytes(unb64(record.trusted), serialized)) {
      return direction === Direction.Receiving || record.pending === undefined;
    }
    if (record.pending === undefined || !sameBytes(unb64(record.pending), serialized)) {
      // Durable even if the surrounding decrypt is discarded: the change must be surfaced.
      const updated: IdentityRecord = { address: name, trusted: record.trusted, pending: b64(serialized), pendingSince: this.now() };
      this.kv.setDurable(NS.identity, this.kv.addressKey(name), utf8.encode(JSON.stringify(updated)));
    }
    return false;
  }

  override async getIdentity(address: ProtocolAddress): Promise<PublicKey | null> {
    const record = this.record(address.toString());
    return record ? PublicKey.deserialize(unb64(record.trusted)) : null;
  }

  status(address: ProtocolAddress): IdentityStatus {
    const record = this.record(address.toString());
    return {
      trusted: record ? unb64(record.trusted) : undefined,
      pending: record?.pending !== undefined ? unb64(record.pending) : undefined,
      pendingSince: record?.pendingSince,
    };
  }

  /** Makes the pending key the trusted one. Returns the new key, or undefined when nothing was pending. */
  accept(address: ProtocolAddress): Uint8Array | undefined {
    const name = address.toString();
    const record = this.record(name);
    if (record?.pending === undefined) return undefined;
    this.kv.setDurable(NS.identity, this.kv.addressKey(name), utf8.encode(JSON.stringify({ address: name, trusted: record.pending })));
    return unb64(record.pending);
  }

  /**
   * Stored records as last read (public keys only), valid while no identity record was written
   * through this kv (E2eKv.identityWrites, staged writes included, kept or not): libsignal asks
   * for the same contact's record on every message (isTrustedIdentity, saveIdentity), and each
   * read is a sealed row opened and parsed. Records absent from the store are never cached: the
   * key known from elsewhere may change (a backup import).
   */
  private readonly records = new Map<string, IdentityRecord>();
  private recordsAt = -1;

  /** The stored record; without one, the key known from elsewhere as the trusted key (not written until needed). */
  private record(name: string): IdentityRecord | undefined {
    if (this.recordsAt !== this.kv.identityWrites) {
      this.records.clear();
      this.recordsAt = this.kv.identityWrites;
    }
    const cached = this.records.get(name);
    if (cached) return cached;
    const raw = this.kv.get(NS.identity, this.kv.addressKey(name));
    if (raw) {
      const parsed = identityRecordSchema.parse(JSON.parse(fromUtf8.decode(raw)));
      if (this.records.size >= MAX_CACHED_RECORDS) this.records.clear();
      this.records.set(name, parsed);
      return parsed;
    }
    // name is "<handle>.<device id>" (ProtocolAddress.toString).
    const known = this.known?.(name.slice(0, name.lastIndexOf('.')));
    return known && known.length > 0 ? { address: name, trusted: b64(known) } : undefined;
  }

  private write(record: IdentityRecord): void {
    this.kv.set(NS.identity, this.kv.addressKey(record.address), utf8.encode(JSON.stringify(record)));
  }
}

export class VaultSessionStore extends SessionStore {
  constructor(private readonly kv: E2eKv) {
    super();
  }

  // Records are kept parsed between uses (E2eKv.parsed): libsignal only reads the one it loads
  // (it works on a copy) and hands a new one to saveSession, so a kept record is never changed.
  override async saveSession(address: ProtocolAddress, record: SessionRecord): Promise<void> {
    const bytes = record.serialize();
    try {
      this.kv.setParsed(NS.session, this.kv.addressKey(address.toString()), bytes, record);
    } finally {
      bytes.fill(0);
    }
  }

  override async getSession(address: ProtocolAddress): Promise<SessionRecord | null> {
    return this.kv.parsed(NS.session, this.kv.addressKey(address.toString()), (raw) => consume(raw, (b) => SessionRecord.deserialize(b))) ?? null;
  }

  override async getExistingSessions(addresses: ProtocolAddress[]): Promise<SessionRecord[]> {
    const records: SessionRecord[] = [];
    for (const address of addresses) {
      const record = await this.getSession(address);
      if (!record) throw new Error(`no session for ${address.toString()}`);
      records.push(record);
    }
    return records;
  }

  deleteSession(address: ProtocolAddress): void {
    this.kv.delete(NS.session, this.kv.addressKey(address.toString()));
  }
}

export class VaultPreKeyStore extends PreKeyStore {
  constructor(private readonly kv: E2eKv) {
    super();
  }

  override async savePreKey(id: number, record: PreKeyRecord): Promise<void> {
    store(this.kv, NS.preKey, String(id), record.serialize());
  }

  override async getPreKey(id: number): Promise<PreKeyRecord> {
    return required(this.kv.get(NS.preKey, String(id)), `one-time prekey ${id} is unknown or already used`, (b) => PreKeyRecord.deserialize(b));
  }

  override async removePreKey(id: number): Promise<void> {
    this.kv.delete(NS.preKey, String(id));
    // A used private key: the lock's scrub clears any rebalancing copy of it (main/vault/scrub.ts).
    this.kv.vault.oweScrub?.();
  }

  count(): number {
    return this.kv.keys(NS.preKey).length;
  }
}

export class VaultSignedPreKeyStore extends SignedPreKeyStore {
  constructor(private readonly kv: E2eKv) {
    super();
  }

  override async saveSignedPreKey(id: number, record: SignedPreKeyRecord): Promise<void> {
    store(this.kv, NS.signedPreKey, String(id), record.serialize());
  }

  override async getSignedPreKey(id: number): Promise<SignedPreKeyRecord> {
    return required(this.kv.get(NS.signedPreKey, String(id)), `signed prekey ${id} is unknown or retired`, (b) => SignedPreKeyRecord.deserialize(b));
  }

  removeSignedPreKey(id: number): void {
    this.kv.delete(NS.signedPreKey, String(id));
    this.kv.vault.oweScrub?.();
  }
}

/**
 * One-time Kyber prekeys are deleted when used. Last-resort Kyber prekeys stay until rotated,
 * so each use is recorded by (key id, signed prekey id, base key) and a repeat is refused: that
 * is what stops a replayed PreKey message from being accepted twice.
 */
export class VaultKyberPreKeyStore extends KyberPreKeyStore {
  constructor(private readonly kv: E2eKv) {
    super();
  }

  override async saveKyberPreKey(id: number, record: KyberPreKeyRecord): Promise<void> {
    store(this.kv, NS.kyberPreKey, String(id), record.serialize());
  }

  saveLastResort(id: number, record: KyberPreKeyRecord): void {
    store(this.kv, NS.kyberLastResort, String(id), record.serialize());
  }

  override async getKyberPreKey(id: number): Promise<KyberPreKeyRecord> {
    const raw = this.kv.get(NS.kyberPreKey, String(id)) ?? this.kv.get(NS.kyberLastResort, String(id));
    return required(raw, `Kyber prekey ${id} is unknown or already used`, (b) => KyberPreKeyRecord.deserialize(b));
  }

  override async markKyberPreKeyUsed(id: number, signedPreKeyId: number, baseKey: PublicKey): Promise<void> {
    const oneTime = this.kv.get(NS.kyberPreKey, String(id));
    if (oneTime) {
      oneTime.fill(0);
      this.kv.delete(NS.kyberPreKey, String(id));
      this.kv.vault.oweScrub?.();
      return;
    }
    const useKey = `${id}-${createHash('sha256').update(`${signedPreKeyId}:`).update(baseKey.serialize()).digest('hex').slice(0, 32)}`;
    if (this.kv.get(NS.kyberLastResortUsed, useKey)) throw new Error(`Kyber last-resort prekey ${id} was already used with this base key`);
    this.kv.set(NS.kyberLastResortUsed, useKey, new Uint8Array([1]));
  }

  removeLastResort(id: number): void {
    this.kv.delete(NS.kyberLastResort, String(id));
    this.kv.vault.oweScrub?.();
    for (const key of this.kv.keys(NS.kyberLastResortUsed)) {
      if (key.startsWith(`${id}-`)) this.kv.delete(NS.kyberLastResortUsed, key);
    }
  }

  count(): number {
    return this.kv.keys(NS.kyberPreKey).length;
  }
}
