// Group messages with libsignal's sender keys (docs/e2e.md "Groups"): each member has one sender
// key chain per distribution id, handed to the other members as a SenderKeyDistributionMessage
// over the 1:1 sessions; a group message is encrypted once (groupEncrypt) and every member
// decrypts it (groupDecrypt). Sender key records are sealed in the vault kv like sessions, keyed
// by an HMAC of (sender, distribution id), and a received message's chain advance is committed in
// one vault transaction with the stored plaintext, as for 1:1 messages (E2e.receive).
import {
  groupDecrypt,
  groupEncrypt,
  ProtocolAddress,
  PublicKey,
  SenderKeyDistributionMessage,
  SenderKeyMessage,
  SenderKeyRecord,
  SenderKeyStore,
  ErrorCode,
  LibSignalErrorBase,
  processSenderKeyDistributionMessage,
} from '@signalapp/libsignal-client';
import { randomUUID } from 'node:crypto';
import { MAX_ENVELOPE_BYTES } from '../../shared/protocol/methods.ts';
import { BadMessage, DuplicateMessage, NoSession } from '../../shared/protocol/e2e-errors.ts';
import { E2eKv, NS } from './kv.ts';
import { ab } from './libsignal.ts';
import type { VaultIdentityKeyStore } from './stores.ts';

/** The envelope type byte of a sender key message (libsignal's CiphertextMessageType.SenderKey). */
export const SENDER_KEY_ENVELOPE_TYPE = 7;
const DEVICE = 1;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isSenderKeyEnvelope(bytes: Uint8Array): boolean {
  return bytes.length > 1 && bytes[0] === SENDER_KEY_ENVELOPE_TYPE;
}

/** A fresh distribution id (a new chain: after a removal, nobody outside the new member set has it). */
export function newDistributionId(): string {
  return randomUUID();
}

export function isDistributionId(v: unknown): v is string {
  return typeof v === 'string' && UUID_RE.test(v);
}

export class VaultSenderKeyStore extends SenderKeyStore {
  constructor(private readonly kv: E2eKv) {
    super();
  }

  private key(sender: ProtocolAddress, distributionId: string): string {
    return this.kv.addressKey(`${sender.toString()}\u0000${distributionId}`);
  }

  override async saveSenderKey(sender: ProtocolAddress, distributionId: string, record: SenderKeyRecord): Promise<void> {
    const bytes = record.serialize();
    try {
      this.kv.set(NS.senderKey, this.key(sender, distributionId), bytes);
    } finally {
      bytes.fill(0);
    }
  }

  override async getSenderKey(sender: ProtocolAddress, distributionId: string): Promise<SenderKeyRecord | null> {
    const raw = this.kv.get(NS.senderKey, this.key(sender, distributionId));
    if (!raw) return null;
    try {
      return SenderKeyRecord.deserialize(ab(raw));
    } finally {
      raw.fill(0);
    }
  }

  forget(sender: ProtocolAddress, distributionId: string): void {
    this.kv.delete(NS.senderKey, this.key(sender, distributionId));
  }
}

/** What E2e lends the group layer: its kv, identity store, one-at-a-time queue and our address. */
export interface GroupCryptoParts {
  kv: E2eKv;
  identity: VaultIdentityKeyStore;
  exclusive: <T>(fn: () => Promise<T>) => Promise<T>;
  local: () => ProtocolAddress;
}

export class GroupCrypto {
  private readonly store: VaultSenderKeyStore;

  constructor(private readonly p: GroupCryptoParts) {
    this.store = new VaultSenderKeyStore(p.kv);
  }

  /** Our distribution message for `distributionId` (the chain is made on first use); send it over 1:1 sessions. */
  distribution(distributionId: string): Promise<Uint8Array> {
    return this.p.exclusive(async () => (await SenderKeyDistributionMessage.create(this.p.local(), distributionId, this.store)).serialize());
  }

  /**
   * Stores a member's sender key from their distribution message. Only from inside a 1:1
   * receive's store callback (E2e.receive holds the queue then): the message came over the
   * authenticated session with `sender`. Returns its distribution id. Throws BadMessage.
   */
  async processDistributionInReceive(sender: string, bytes: Uint8Array): Promise<string> {
    let message: SenderKeyDistributionMessage;
    try {
      message = SenderKeyDistributionMessage.deserialize(ab(bytes));
    } catch (cause) {
      throw new BadMessage('malformed sender key distribution', { cause });
    }
    await processSenderKeyDistributionMessage(ProtocolAddress.new(sender, DEVICE), message, this.store);
    return message.distributionId();
  }

  /** One ciphertext for every member holding our chain `distributionId`: the envelope the relay carries. */
  encrypt(distributionId: string, plaintext: Uint8Array): Promise<Uint8Array> {
    return this.p.exclusive(async () => {
      const message = await groupEncrypt(this.p.local(), distributionId, this.store, ab(plaintext));
      const body = message.serialize();
      const out = new Uint8Array(1 + body.length);
      out[0] = SENDER_KEY_ENVELOPE_TYPE;
      out.set(body, 1);
      if (out.length > MAX_ENVELOPE_BYTES) throw new BadMessage('group message too large');
      return out;
    });
  }

  /** The distribution id a sender key envelope names (before decrypting it). Throws BadMessage. */
  distributionIdOf(envelope: Uint8Array): string {
    try {
      return SenderKeyMessage.deserialize(ab(envelope.subarray(1))).distributionId();
    } catch (cause) {
      throw new BadMessage('malformed sender key message', { cause });
    }
  }

  /**
   * Decrypts a sender key envelope from `sender`, hands the plaintext to `store` (synchronous,
   * vault writes only), and commits the chain advance in the same vault transaction. Throws
   * NoSession when we hold no chain of theirs for the message's distribution id (a removed member,
   * or a message from before we joined), DuplicateMessage, or BadMessage.
   */
  receive<T>(sender: string, envelope: Uint8Array, store: (plaintext: Uint8Array) => T): Promise<T> {
    return this.p.exclusive(async () => {
      if (!isSenderKeyEnvelope(envelope)) throw new BadMessage('not a sender key message');
      const address = ProtocolAddress.new(sender, DEVICE);
      const distributionId = this.distributionIdOf(envelope);
      if (!(await this.store.getSenderKey(address, distributionId))) throw new NoSession(`${sender} (group chain ${distributionId})`);
      let staged: { result: Uint8Array; commit: () => void; discard: () => void };
      try {
        staged = await this.p.kv.staged(() => groupDecrypt(address, this.store, ab(envelope.subarray(1))));
      } catch (error) {
        if (error instanceof LibSignalErrorBase) {
          if (error.code === ErrorCode.DuplicatedMessage) throw new DuplicateMessage({ cause: error });
          throw new BadMessage(error.message, { cause: error });
        }
        throw error;
      }
      let committed = false;
      try {
        const tx = this.p.kv.vault.transaction?.bind(this.p.kv.vault) ?? (<R>(fn: () => R): R => fn());
        const result = tx(() => {
          const r = store(staged.result);
          staged.commit();
          committed = true;
          return r;
        });
        return result;
      } finally {
        if (!committed) staged.discard();
        staged.result.fill(0);
      }
    });
  }

  /** Drops a member's chain (they left or were removed). */
  forget(sender: string, distributionId: string): Promise<void> {
    return this.p.exclusive(async () => this.store.forget(ProtocolAddress.new(sender, DEVICE), distributionId));
  }

  /** Signs with our identity key (group changes). */
  sign(message: Uint8Array): Uint8Array {
    const pair = this.p.identity.identityKeyPair();
    return pair.privateKey.sign(ab(message));
  }

  /** Checks a signature with the identity key we trust for `author` (ours for ourselves); false when none. */
  verify(author: string, message: Uint8Array, sig: Uint8Array): boolean {
    let key: PublicKey;
    if (author === this.p.local().name()) {
      key = this.p.identity.identityKeyPair().publicKey;
    } else {
      const status = this.p.identity.status(ProtocolAddress.new(author, DEVICE));
      // A changed key not yet accepted verifies nothing: the change waits for the user, as 1:1 messages do.
      if (!status.trusted || status.pending) return false;
      key = PublicKey.deserialize(ab(status.trusted));
    }
    try {
      return key.verify(ab(message), ab(sig));
    } catch {
      return false;
    }
  }
}

