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

/** libsignal decrypt alone for `senders` x `perSender` PreKey messages (see the file comment). */
export async function signalDecryptFloor(senders: number, perSender: number, text: (s: number, i: number) => string): Promise<SignalFloor> {
  const me = ProtocolAddress.new('recipient', 1);
  const myIdentity = IdentityKeyPair.generate();
  const sessions = new MemorySessions();
  const identities = new MemoryIdentities(myIdentity, 1);
  const preKeys = new MemoryPreKeys();
  const signed = new MemorySignedPreKeys();
  const kyber = new MemoryKyberPreKeys();
  const spk = PrivateKey.generate();
  const spkSig = myIdentity.privateKey.sign(spk.getPublicKey().serialize());
  await signed.saveSignedPreKey(1, SignedPreKeyRecord.new(1, Date.now(), spk.getPublicKey(), spk, spkSig));

  const perContact: Array<Array<{ from: ProtocolAddress; body: Uint8Array<ArrayBuffer> }>> = [];
  let encryptMs = 0;
  for (let s = 0; s < senders; s++) {
    const from = ProtocolAddress.new(`sender_${s}`, 1);
    const pk = PrivateKey.generate();
    await preKeys.savePreKey(s + 1, PreKeyRecord.new(s + 1, pk.getPublicKey(), pk));
    const kem = KEMKeyPair.generate();
    const kemSig = myIdentity.privateKey.sign(kem.getPublicKey().serialize());
    await kyber.saveKyberPreKey(s + 1, KyberPreKeyRecord.new(s + 1, Date.now(), kem, kemSig));
    const bundle = PreKeyBundle.new(1, 1, s + 1, pk.getPublicKey(), 1, spk.getPublicKey(), spkSig, myIdentity.publicKey, s + 1, kem.getPublicKey(), kemSig);
    const theirSessions = new MemorySessions();
    const theirIdentities = new MemoryIdentities(IdentityKeyPair.generate(), s + 2);
    await processPreKeyBundle(bundle, me, from, theirSessions, theirIdentities);
    const mine: Array<{ from: ProtocolAddress; body: Uint8Array<ArrayBuffer> }> = [];
    perContact.push(mine);
    const t0 = performance.now();
    for (let i = 0; i < perSender; i++) {
      const c = await signalEncrypt(new TextEncoder().encode(text(s, i)), me, from, theirSessions, theirIdentities);
      if (c.type() !== CiphertextMessageType.PreKey) throw new Error('expected PreKey messages');
      mine.push({ from, body: c.serialize() });
    }
    encryptMs += performance.now() - t0;
  }
  // Interleaved across contacts, as the relay hands a catch-up over.
  const queued = Array.from({ length: perSender }, (_, i) => perContact.map((m) => m[i]!)).flat();
  const t0 = performance.now();
  let bytes = 0;
  for (const q of queued) {
    const plain = await signalDecryptPreKey(PreKeySignalMessage.deserialize(q.body), q.from, me, sessions, identities, preKeys, signed, kyber);
    bytes += plain.length;
  }
  const decryptMs = performance.now() - t0;
  if (bytes === 0) throw new Error('nothing decrypted');
  const total = senders * perSender;
  return { decryptUsPerMsg: (decryptMs * 1000) / total, encryptUsPerMsg: (encryptMs * 1000) / total };
}
