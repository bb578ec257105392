// The floor of receiving a text (issue 18): libsignal's own decrypt and nothing else, in memory.
// Same shape as bench/catchup's queue: each of `senders` contacts starts a session from the
// recipient's bundle (a one-time and a Kyber prekey) and sends `perSender` messages without a
// reply, so every envelope is a PreKey message, as they are in a catch-up. Stores keep libsignal's
// own record objects in Maps (no sealing, no SQLite, no serialization by us): what remains is
// what no receive path can avoid. Only the recipient's decrypts are timed.
import {
  Direction,
  IdentityChange,
  IdentityKeyPair,
  IdentityKeyStore,
  KEMKeyPair,
  KyberPreKeyRecord,
  KyberPreKeyStore,
  PreKeyBundle,
  PreKeyRecord,
  PreKeySignalMessage,
  PreKeyStore,
  PrivateKey,
  ProtocolAddress,
  PublicKey,
  SessionRecord,
  SessionStore,
  SignedPreKeyRecord,
  SignedPreKeyStore,
  signalDecryptPreKey,
  signalEncrypt,
  CiphertextMessageType,
  processPreKeyBundle,
} from '@signalapp/libsignal-client';
import { performance } from 'node:perf_hooks';

class MemorySessions extends SessionStore {
  readonly map = new Map<string, SessionRecord>();
  override async saveSession(a: ProtocolAddress, r: SessionRecord): Promise<void> {
    this.map.set(a.toString(), r);
  }
  override async getSession(a: ProtocolAddress): Promise<SessionRecord | null> {
    return this.map.get(a.toString()) ?? null;
  }
  override async getExistingSessions(as: ProtocolAddress[]): Promise<SessionRecord[]> {
    return as.map((a) => {
      const r = this.map.get(a.toString());
      if (!r) throw new Error('no session');
      return r;
    });
  }
}

class MemoryIdentities extends IdentityKeyStore {
  private readonly known = new Map<string, PublicKey>();
  constructor(private readonly pair: IdentityKeyPair, private readonly registrationId: number) {
    super();
  }
  override async getIdentityKey(): Promise<PrivateKey> {
    return this.pair.privateKey;
  }
  override async getIdentityKeyPair(): Promise<IdentityKeyPair> {
    return this.pair;
  }
  override async getLocalRegistrationId(): Promise<number> {
    return this.registrationId;
  }
  override async saveIdentity(a: ProtocolAddress, key: PublicKey): Promise<IdentityChange> {
    this.known.set(a.toString(), key);
    return IdentityChange.NewOrUnchanged;
  }
  override async isTrustedIdentity(_a: ProtocolAddress, _key: PublicKey, _d: Direction): Promise<boolean> {
    return true;
  }
  override async getIdentity(a: ProtocolAddress): Promise<PublicKey | null> {
    return this.known.get(a.toString()) ?? null;
  }
}

class MemoryPreKeys extends PreKeyStore {
  readonly map = new Map<number, PreKeyRecord>();
  override async savePreKey(id: number, r: PreKeyRecord): Promise<void> {
    this.map.set(id, r);
  }
  override async getPreKey(id: number): Promise<PreKeyRecord> {
    const r = this.map.get(id);
    if (!r) throw new Error('no prekey');
    return r;
  }
  override async removePreKey(id: number): Promise<void> {
    this.map.delete(id);
  }
}

class MemorySignedPreKeys extends SignedPreKeyStore {
  readonly map = new Map<number, SignedPreKeyRecord>();
  override async saveSignedPreKey(id: number, r: SignedPreKeyRecord): Promise<void> {
    this.map.set(id, r);
  }
  override async getSignedPreKey(id: number): Promise<SignedPreKeyRecord> {
    const r = this.map.get(id);
    if (!r) throw new Error('no signed prekey');
    return r;
  }
}

class MemoryKyberPreKeys extends KyberPreKeyStore {
  readonly map = new Map<number, KyberPreKeyRecord>();
  override async saveKyberPreKey(id: number, r: KyberPreKeyRecord): Promise<void> {
    this.map.set(id, r);
  }
  override async getKyberPreKey(id: number): Promise<KyberPreKeyRecord> {
    const r = this.map.get(id);
    if (!r) throw new Error('no kyber prekey');
    return r;
  }
  override async markKyberPreKeyUsed(id: number): Promise<void> {
    this.map.delete(id);
  }
}

export interface SignalFloor {
  /** Recipient CPU-bound wall time per message of signalDecryptPreKey alone, µs. */
  decryptUsPerMsg: number;
  /** Sender side, for information: signalEncrypt alone per message, µs. */
  encryptUsPerMsg: number;
}

/** The recipient's key material, as libsignal records (the floors store them as they like). */
export interface RecipientKeys {
  address: ProtocolAddress;
  identity: IdentityKeyPair;
  signedPreKey: SignedPreKeyRecord;
  preKeys: PreKeyRecord[];
  kyberPreKeys: KyberPreKeyRecord[];
}

/** One queued envelope: a PreKey message from `from` (sender index `sender`, its `index`-th). */
export interface QueuedEnvelope {
  from: ProtocolAddress;
  sender: number;
  index: number;
  body: Uint8Array<ArrayBuffer>;
}

/**
 * A recipient and `senders` x `perSender` PreKey messages to it, interleaved across contacts as
 * the relay hands a catch-up over; with the senders' encrypt time per message (µs).
 */
export async function preKeyQueue(senders: number, perSender: number, text: (s: number, i: number) => string): Promise<{ keys: RecipientKeys; queued: QueuedEnvelope[]; encryptUsPerMsg: number }> {
  const me = ProtocolAddress.new('recipient', 1);
  const myIdentity = IdentityKeyPair.generate();
  const spk = PrivateKey.generate();
  const spkSig = myIdentity.privateKey.sign(spk.getPublicKey().serialize());
  const keys: RecipientKeys = { address: me, identity: myIdentity, signedPreKey: SignedPreKeyRecord.new(1, Date.now(), spk.getPublicKey(), spk, spkSig), preKeys: [], kyberPreKeys: [] };
  const perContact: QueuedEnvelope[][] = [];
  let encryptMs = 0;
  for (let s = 0; s < senders; s++) {
    const from = ProtocolAddress.new(`sender_${s}`, 1);
    const pk = PrivateKey.generate();
    keys.preKeys.push(PreKeyRecord.new(s + 1, pk.getPublicKey(), pk));
    const kem = KEMKeyPair.generate();
    const kemSig = myIdentity.privateKey.sign(kem.getPublicKey().serialize());
    keys.kyberPreKeys.push(KyberPreKeyRecord.new(s + 1, Date.now(), kem, kemSig));
    const bundle = PreKeyBundle.new(1, 1, s + 1, pk.getPublicKey(), 1, spk.getPublicKey(), spkSig, myIdentity.publicKey, s + 1, kem.getPublicKey(), kemSig);
    const theirSessions = new MemorySessions();
    const theirIdentities = new MemoryIdentities(IdentityKeyPair.generate(), s + 2);
    await processPreKeyBundle(bundle, me, from, theirSessions, theirIdentities);
    const mine: QueuedEnvelope[] = [];
    perContact.push(mine);
    const t0 = performance.now();
    for (let i = 0; i < perSender; i++) {
      const c = await signalEncrypt(new TextEncoder().encode(text(s, i)), me, from, theirSessions, theirIdentities);
      if (c.type() !== CiphertextMessageType.PreKey) throw new Error('expected PreKey messages');
      mine.push({ from, sender: s, index: i, body: c.serialize() });
    }
    encryptMs += performance.now() - t0;
  }
  const queued = Array.from({ length: perSender }, (_, i) => perContact.map((m) => m[i]!)).flat();
  return { keys, queued, encryptUsPerMsg: (encryptMs * 1000) / (senders * perSender) };
}

/** libsignal decrypt alone for `senders` x `perSender` PreKey messages (see the file comment). */
export async function signalDecryptFloor(senders: number, perSender: number, text: (s: number, i: number) => string): Promise<SignalFloor> {
  const { keys, queued, encryptUsPerMsg } = await preKeyQueue(senders, perSender, text);
  const sessions = new MemorySessions();
  const identities = new MemoryIdentities(keys.identity, 1);
  const preKeys = new MemoryPreKeys();
  const signed = new MemorySignedPreKeys();
  const kyber = new MemoryKyberPreKeys();
  await signed.saveSignedPreKey(1, keys.signedPreKey);
  for (const r of keys.preKeys) await preKeys.savePreKey(r.id(), r);
  for (const r of keys.kyberPreKeys) await kyber.saveKyberPreKey(r.id(), r);
  const t0 = performance.now();
  let bytes = 0;
  for (const q of queued) {
    const plain = await signalDecryptPreKey(PreKeySignalMessage.deserialize(q.body), q.from, keys.address, sessions, identities, preKeys, signed, kyber);
    bytes += plain.length;
  }
  const decryptMs = performance.now() - t0;
  if (bytes === 0) throw new Error('nothing decrypted');
  return { decryptUsPerMsg: (decryptMs * 1000) / queued.length, encryptUsPerMsg };
}
