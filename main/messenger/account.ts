/**
 * The account on a relay: registration (identity and prekeys uploaded, the account record
 * written last), the relay descriptor in use, the connection's opening, and prekey upkeep
 * after each (re)connect and once a day. Records are sealed in the vault's kv.
 */
import { readFileSync } from 'node:fs';
import { ApiError, type ConnectionState } from '../../shared/api.ts';
import { parseDescriptor, type RelayDescriptor } from '../../shared/protocol/descriptor.ts';
import { HANDLE_RE } from '../../shared/protocol/schema.ts';
import {
  chunkOneTimePreKeys,
  E2e,
  encodeIdentityUpload,
  encodeOneTimePreKeysUpload,
  needsReplenish,
  ONE_TIME_PREKEY_COUNT,
  type OneTimePreKeysUpload,
} from '../e2e/index.ts';
import type { DurableOutcome } from '../net/client.ts';
import type { Envelope as RelayEnvelope } from '../net/mailbox.ts';
import type { Vault } from '../vault/index.ts';
import { RelayConnection } from './connection.ts';
import type { Emit } from './events.ts';
import type { AccountRecord, SessionAccess } from './session.ts';
import { resumeCommittedUploads } from './attachment-ui.ts';
import { watchBlobReleases } from './attachments.ts';

/** Sealed vault kv namespace of the messenger's own records. */
const NS = 'messenger';
const ACCOUNT_KEY = 'account';
const RELAY_KEY = 'relay';
/** Signed-prekey rotation check while connected (also at every connect). */
const UPKEEP_INTERVAL_MS = 24 * 3600 * 1000;

export interface AccountOptions {
  /** A relay descriptor file to use when `register` is called without one. */
  serverDescriptorPath?: string | undefined;
  /** How long calls that need the relay wait for a connection before RELAY_UNREACHABLE. */
  relayTimeoutMs: number;
}

/** What the connection hands over: durable outcomes of relay requests, and envelopes. */
export interface ConnectionHandlers {
  onDurable(outcome: DurableOutcome): void;
  onEnvelope(env: RelayEnvelope): Promise<void>;
}

export class Account {
  /** The --server-descriptor file, parsed once it could be read (status() asks often). */
  private fileRelay: RelayDescriptor | undefined;
  private upkeepTimer: NodeJS.Timeout | undefined;
  private upkeepRunning = false;

  constructor(
    private readonly opts: AccountOptions,
    private readonly access: SessionAccess,
    private readonly emit: Emit,
    private readonly handlers: ConnectionHandlers,
  ) {}

  /** Registers the handle; false when this profile already is registered as that handle. */
  async register(handle: string, serverDescriptor: string | undefined): Promise<boolean> {
    // The contract's schema checks this for app, browser and CLI; callers that hold the
    // Messenger itself (tests, benches) get the same answer instead of a relay refusal.
    if (!HANDLE_RE.test(handle)) throw new ApiError('INVALID_ARGUMENT', 'Not a valid handle: a handle is 3-32 of a-z, 0-9 and _.');
    const session = this.access.require();
    const vault = session.vault;
    const registered = session.registration?.account;
    if (registered) {
      if (registered.handle === handle) return false;
      throw new ApiError('ALREADY_REGISTERED', `This profile is already registered as ${registered.handle}.`);
    }
    const descriptor = serverDescriptor !== undefined ? parseDescriptorText(serverDescriptor) : this.configuredRelay();
    if (!descriptor) throw new ApiError('BAD_DESCRIPTOR', 'No relay is configured: pass a server descriptor.');
    writeJson(vault, RELAY_KEY, descriptor);
    if (session.connection && !sameRelay(session.connection.descriptor, descriptor)) {
      await session.connection.stop();
      session.connection = undefined;
    }
    const conn = session.connection ?? (await this.connect(descriptor));
    if (!(await conn.waitReady(this.opts.relayTimeoutMs))) throw unreachable(descriptor, conn);
    await conn.mailbox.register(handle);
    let e2e: E2e;
    let oneTime: OneTimePreKeysUpload | undefined;
    if (E2e.isRegistered(vault)) {
      e2e = E2e.open(vault, { knownIdentity: knownIdentityIn(vault) });
      if (e2e.localName !== handle) throw new ApiError('ALREADY_REGISTERED', `This profile's identity belongs to ${e2e.localName}.`);
    } else {
      const made = await E2e.register(vault, handle, { knownIdentity: knownIdentityIn(vault) });
      e2e = made.e2e;
      oneTime = made.registration.oneTimePreKeys;
    }
    await conn.keys.uploadIdentity(encodeIdentityUpload(await e2e.currentIdentityUpload()));
    if (oneTime) for (const chunk of chunkOneTimePreKeys(oneTime)) await conn.keys.uploadOneTime(encodeOneTimePreKeysUpload(chunk));
    // Written last: an interrupted registration is redone by the next register call.
    const account = { handle, descriptor };
    writeJson(this.access.require().vault, ACCOUNT_KEY, account);
    session.registration = { account, e2e };
    return true;
  }

  /** The connection state while there is no connection (locked, or not registered). */
  offlineState(): ConnectionState {
    const vault = this.access.current()?.vault;
    const unlocked = vault?.isUnlocked === true;
    return {
      phase: 'offline',
      // A failed disk write before registration is what the user must fix first.
      cause: !unlocked ? 'locked' : vault.durabilityLost ? 'disk_write_failed' : 'not_registered',
      relayUrl: unlocked ? (this.configuredRelay()?.url ?? null) : null,
      tempKeyExpiresAt: null,
      outboxSize: 0,
      since: Date.now(),
    };
  }

  /** Opens the session's connection; its events count only while it is the session's one. */
  async connect(descriptor: RelayDescriptor): Promise<RelayConnection> {
    const session = this.access.require();
    const isCurrent = (conn: RelayConnection): boolean => this.access.current()?.connection === conn;
    const conn = await RelayConnection.open(descriptor, session.vault, {
      onState: (s) => {
        if (isCurrent(conn)) this.emit('connection', s);
      },
      onDurable: (o) => {
        if (isCurrent(conn)) this.handlers.onDurable(o);
      },
      onEnvelope: (env) => this.handlers.onEnvelope(env),
      onReady: () => {
        if (!isCurrent(conn)) return;
        void this.upkeep();
        // Relay blobs of deleted files (main/messenger/attachments.ts); after a failed disk write
        // a release is refused at once (kept for the next unlock) instead of pending on the stopped client.
        watchBlobReleases(session.vault, conn.calls);
        // Window uploads a crash cut short mid-commit (main/messenger/committed-uploads.ts).
        resumeCommittedUploads(session.vault);
      },
    });
    session.connection = conn;
    if (this.upkeepTimer) clearInterval(this.upkeepTimer);
    this.upkeepTimer = setInterval(() => void this.upkeep(), UPKEEP_INTERVAL_MS);
    this.upkeepTimer.unref();
    await conn.start();
    return conn;
  }

  /** At lock: no more upkeep. */
  stop(): void {
    if (this.upkeepTimer) clearInterval(this.upkeepTimer);
    this.upkeepTimer = undefined;
  }

  /** Prekey upkeep after each (re)connect: re-upload a lost identity, rotate, replenish. */
  async upkeep(): Promise<void> {
    const session = this.access.current();
    const conn = session?.connection;
    const e2e = session?.registration?.e2e;
    if (!conn || !e2e || this.upkeepRunning) return;
    this.upkeepRunning = true;
    try {
      await this.upkeepNow(conn, e2e);
    } catch {
      // Retried at the next connect; sending and receiving do not depend on it.
    } finally {
      this.upkeepRunning = false;
    }
  }

  /** Relay calls between local steps; only the local (vault-writing) steps are vault activities. */
  private async upkeepNow(conn: RelayConnection, e2e: E2e): Promise<void> {
    const counts = await conn.keys.count();
    if (!counts.hasIdentity) await conn.keys.uploadIdentity(encodeIdentityUpload(await e2e.currentIdentityUpload()));
    const rotation = await this.access.activity(() => e2e.rotateSignedPreKeyIfDue());
    if (rotation.rotated && rotation.identity) await conn.keys.uploadIdentity(encodeIdentityUpload(rotation.identity));
    if (needsReplenish(counts)) {
      const n = ONE_TIME_PREKEY_COUNT - Math.min(counts.preKeys, counts.kyberPreKeys);
      const upload = await this.access.activity(() => e2e.generateOneTimePreKeys(n));
      for (const chunk of chunkOneTimePreKeys(upload)) await conn.keys.uploadOneTime(encodeOneTimePreKeysUpload(chunk));
    }
  }

  /** The registered account's connection once ready; NOT_REGISTERED or RELAY_UNREACHABLE otherwise. */
  async readyConnection(): Promise<RelayConnection> {
    const session = this.access.current();
    const conn = session?.connection;
    if (!conn || !session.registration) throw new ApiError('NOT_REGISTERED', 'Register this profile on a relay first.');
    if (!(await conn.waitReady(this.opts.relayTimeoutMs))) throw unreachable(conn.descriptor, conn);
    return conn;
  }

  /** The relay descriptor stored in the vault, else the --server-descriptor file's (unlocked vault). */
  configuredRelay(): RelayDescriptor | undefined {
    const stored = readJson(this.access.require().vault, RELAY_KEY, parseDescriptor);
    if (stored) return stored;
    if (!this.opts.serverDescriptorPath) return undefined;
    if (!this.fileRelay) {
      try {
        this.fileRelay = parseDescriptor(JSON.parse(readFileSync(this.opts.serverDescriptorPath, 'utf8')));
      } catch {
        return undefined; // not there yet (the relay may still be starting) or not a descriptor
      }
    }
    return this.fileRelay;
  }

  /** Settings: another relay descriptor (refused once registered on a different relay). */
  setRelay(descriptorText: string): void {
    const session = this.access.require();
    const account = session.registration?.account;
    const descriptor = parseDescriptorText(descriptorText);
    if (account && !sameRelay(account.descriptor, descriptor)) {
      throw new ApiError('ALREADY_REGISTERED', `This profile is registered on ${account.descriptor.url}; it cannot move to another relay.`);
    }
    writeJson(this.access.require().vault, RELAY_KEY, descriptor);
  }
}

/** The account record, if this profile is registered (written by register, last). */
export function readAccount(vault: Vault): AccountRecord | undefined {
  return readJson(vault, ACCOUNT_KEY, parseAccountRecord);
}

function parseAccountRecord(value: unknown): AccountRecord {
  const v = value as { handle?: unknown; descriptor?: unknown } | null;
  if (typeof v !== 'object' || v === null || typeof v.handle !== 'string') throw new Error('account record is malformed');
  return { handle: v.handle, descriptor: parseDescriptor(v.descriptor) };
}

function readJson<T>(vault: Vault, key: string, parse: (value: unknown) => T): T | undefined {
  const raw = vault.kvGet(NS, key);
  if (!raw) return undefined;
  return parse(JSON.parse(Buffer.from(raw).toString('utf8')) as unknown);
}

function writeJson(vault: Vault, key: string, value: AccountRecord | RelayDescriptor): void {
  vault.kvSet(NS, key, Buffer.from(JSON.stringify(value), 'utf8'));
}

/**
 * The key a contact record holds, for the identity store's first use of a handle it has no
 * record of (a contact restored from a backup): a different key is then a change to accept.
 */
export function knownIdentityIn(vault: Vault): (handle: string) => Uint8Array | undefined {
  return (handle) => (vault.isUnlocked ? vault.findContactByHandle(handle)?.identityKey : undefined);
}

function parseDescriptorText(text: string): RelayDescriptor {
  try {
    return parseDescriptor(JSON.parse(text));
  } catch {
    throw new ApiError('BAD_DESCRIPTOR', 'The server descriptor is not valid (expected the JSON the relay prints: version, url, relayPublicKey, certificateSha256).');
  }
}

function sameRelay(a: RelayDescriptor, b: RelayDescriptor): boolean {
  return a.url === b.url && a.relayPublicKey === b.relayPublicKey && a.certificateSha256 === b.certificateSha256;
}

function unreachable(d: RelayDescriptor, conn: RelayConnection): ApiError {
  if (conn.state().cause === 'relay_identity_mismatch') {
    return new ApiError('RELAY_UNREACHABLE', `The server at ${d.url} is not the relay the descriptor names (certificate or identity key mismatch): someone may be intercepting the connection.`);
  }
  return new ApiError('RELAY_UNREACHABLE', `The relay at ${d.url} cannot be reached right now.`);
}
