// One received envelope: libsignal decrypts it with its store writes staged (kv.ts), the caller's
// store persists the plaintext, and only then is the session change committed, in the same vault
// transaction when the vault has them. Nothing changes if the store throws or the process dies.
import {
  PreKeySignalMessage,
  SignalMessage,
  signalDecrypt,
  signalDecryptPreKey,
  type ProtocolAddress,
} from '@signalapp/libsignal-client';
import type { Envelope } from './envelope.ts';
import { BadMessage, NoSession } from '../../shared/protocol/e2e-errors.ts';
import type { E2eKv } from './kv.ts';
import { ab } from './libsignal.ts';
import type {
  VaultIdentityKeyStore,
  VaultKyberPreKeyStore,
  VaultPreKeyStore,
  VaultSessionStore,
  VaultSignedPreKeyStore,
} from './stores.ts';

/** The stores and the local address a decrypt runs with. */
export interface SignalStores {
  session: VaultSessionStore;
  identity: VaultIdentityKeyStore;
  preKey: VaultPreKeyStore;
  signedPreKey: VaultSignedPreKeyStore;
  kyberPreKey: VaultKyberPreKeyStore;
  local(): ProtocolAddress;
  /** Runs a libsignal call; a vault failure inside one of its store callbacks is rethrown as itself. */
  signal<T>(fn: () => Promise<T>): Promise<T>;
}

/** Decrypts a PreKey or normal message from `remote`. Throws BadMessage, NoSession, or libsignal's error. */
export async function decryptSignal(s: SignalStores, remote: ProtocolAddress, envelope: Envelope): Promise<Uint8Array> {
  const body = ab(envelope.body);
  if (envelope.type === 'prekey') {
    let message: PreKeySignalMessage;
    try {
      message = PreKeySignalMessage.deserialize(body);
    } catch (cause) {
      throw new BadMessage('malformed PreKey message', { cause });
    }
    return s.signal(() =>
      signalDecryptPreKey(
        message,
        remote,
        s.local(),
        s.session,
        s.identity,
        s.preKey,
        s.signedPreKey,
        s.kyberPreKey,
      ),
    );
  }
  let message: SignalMessage;
  try {
    message = SignalMessage.deserialize(body);
  } catch (cause) {
    throw new BadMessage('malformed message', { cause });
  }
  if (!(await s.session.getSession(remote))) throw new NoSession(remote.name());
  return s.signal(() => signalDecrypt(message, remote, s.local(), s.session, s.identity));
}

/**
 * Hands the staged plaintext to `store`, then commits the staged session change; discards it when
 * `store` throws. The plaintext buffer is zeroed afterwards either way.
 */
export async function storeThenCommit<T>(
  kv: E2eKv,
  staged: { result: Uint8Array; commit: () => void; discard: () => void },
  store: (plaintext: Uint8Array) => T | Promise<T>,
): Promise<T> {
  let committed = false;
  try {
    // The store's writes and the session change in one vault transaction: one commit (one
    // fsync) per message instead of one per write, which bounded catch-up (docs/protocol.md
    // §12a), and all or nothing. An async store's first synchronous part runs inside the transaction; the
    // session change then waits for its promise, as before.
    // Batched where the vault has it: each envelope in its own savepoint of one transaction per
    // event-loop turn, committed without an fsync wait (WriteGate.batched). The mailbox
    // acknowledges only after vault.syncCommitted() committed and synced it (net/mailbox.ts);
    // until then a crash undoes whole envelopes, which the relay still holds and pushes again.
    const tx =
      kv.vault.batchedTransaction?.bind(kv.vault) ?? kv.vault.relaxedTransaction?.bind(kv.vault) ?? kv.vault.transaction?.bind(kv.vault) ?? (<R>(fn: () => R): R => fn());
    let pending: PromiseLike<T> | undefined;
    let result: T | undefined;
    tx(() => {
      const r = store(staged.result);
      if (isThenable(r)) {
        pending = r;
        return;
      }
      result = r;
      staged.commit();
      committed = true;
    });
    if (pending) {
      result = await pending;
      staged.commit();
      committed = true;
    }
    return result as T;
  } finally {
    if (!committed) staged.discard();
    staged.result.fill(0);
  }
}

function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === 'function';
}
