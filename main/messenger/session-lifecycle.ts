// The vault's lifecycle behind the facade (main/messenger.ts): create, unlock, lock, wipe and
// close, what each of them starts or stops in the other jobs, auto-lock, and the wrapper every
// API call runs in. The unlocked session and the disappearing timers live here, from unlock to
// lock; lifecycle changes run one at a time.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import PQueue from 'p-queue';
import { ApiError, type EphemeraApi, type Message, type ResultOf, type Settings, type VaultStatus } from '../../shared/api.ts';
import type { StoredMessage } from '../vault/api.ts';
import { Vault, type KdfParams } from '../vault/index.ts';
import { pinProfileFiles, verifyPassword, wipeProfile as wipeClosedProfile, wipeVerifiedProfile } from '../vault/wipe.ts';
import type { Account } from './account.ts';
import type { AttachmentUi } from './attachment-ui.ts';
import { AutoLock } from './auto-lock.ts';
import type { BackupJobs } from './backups.ts';
import type { ConversationCounters } from './counters.ts';
import type { Deleter } from './deleting.ts';
import { refuseWeakSecret, toServiceError } from './errors.ts';
import type { Emit } from './events.ts';
import { DisappearingTimers, type Expiring } from './expiry.ts';
import { openSession } from './lifecycle.ts';
import type { RefusalContext } from './refusals.ts';
import type { SearchCatchUp } from './searching.ts';
import { resendWithdrawnReceipts } from './receipt-resend.ts';
import type { Sender } from './sending.ts';
import { lockVault, type Registration, type SessionAccess, type UnlockedSession } from './session.ts';
import { readSettings, SETTINGS_FILE, settingsView, writeSettings } from './settings.ts';
import { checkVault, vaultInfo } from './vault-check.ts';

export interface LifecycleOptions {
  profileDir: string;
  kdf?: KdfParams | undefined;
  allowWeakSecrets: boolean;
  /** Unlocking neither connects nor resumes queued sends (the CLI's one-shot commands). */
  offline: boolean;
}

/** The jobs that unlocking starts and locking stops (main/messenger.ts makes them). */
export interface LifecycleParts {
  emit: Emit;
  account: Pick<Account, 'connect' | 'stop' | 'offlineState' | 'configuredRelay'>;
  sender: Pick<Sender, 'enqueue' | 'idle' | 'resumeQueued' | 'forgetSent'>;
  deleter: Pick<Deleter, 'forMeInSlices'>;
  receipts: LockReceipts;
  searchCatchUp: Pick<SearchCatchUp, 'stop'>;
  counters: Pick<ConversationCounters, 'stopTimer' | 'drain'>;
  backups: Pick<BackupJobs, 'closeAll'>;
  attachmentUi: Pick<AttachmentUi, 'dropAll'>;
  /** The message as the UI sees it (with its quote). */
  viewOf(m: StoredMessage): Message;
}

/** Receipts across a lock (messenger.ts joins the 1:1 and the group ones; receipts.ts). */
export interface LockReceipts {
  /** Before the connection stops: held delivered receipts go now; resolves once they are out, or after `maxMs`. */
  sendHeld(maxMs: number): Promise<void>;
  /** Once it stopped: what is held or queued still is kept sealed for the next connection. */
  stop(): void;
  /** After the connection opened at unlock (in the send queue): what the last lock kept goes. */
  resendKept(): Promise<void>;
}

/**
 * How long a lock waits for held delivered receipts to go before it stops the connection. Enough
 * for an encrypt, a commit and the relay's answer per author on a loaded machine; what is not out
 * by then is not lost (it goes after the next unlock), so a lock or quit never waits long.
 */
export const LOCK_RECEIPT_WAIT_MS = 2500;

/**
 * How long a lock waits for a window's answer to the 'locking' event (lockDrafts: its composers'
 * text) before it drops the key. A round trip on this machine; bounded so a closed or hung window
 * delays an idle or quit lock by this much at most.
 */
export const LOCK_DRAFT_WAIT_MS = 1000;

/** Runs one API method: maps errors to ApiError codes and resets the auto-lock timer. */
export type ApiCall = <T>(fn: () => Promise<T> | T, about?: RefusalContext) => Promise<T>;

export type VaultMethods = Pick<
  EphemeraApi,
  'vaultStatus' | 'createVault' | 'confirmRecoveryPhrase' | 'unlock' | 'unlockWithRecovery' | 'lock' | 'changePassword' | 'wipeProfile' | 'vaultInfo' | 'vaultCheck'
>;

export class SessionLifecycle implements SessionAccess {
  /** Everything that exists only while unlocked (vault, search, registration, connection). */
  private session: UnlockedSession | undefined;
  /** Disappearing-message timers (messenger/expiry.ts), from unlock to lock. */
  private disappearing: DisappearingTimers | undefined;
  private closed = false;
  /**
   * From the moment a lock is asked for to its end: API calls (other than the vault's own) are
   * refused, so nothing the user starts then goes out during the lock's receipt wait (R5, R6).
   */
  private locking = false;
  /** The UI was told this lock began ('locking' event), so it is told when it ends. */
  private lockingAnnounced = false;
  /** A window called lockDrafts once: from then on each lock waits for its answer (bounded). */
  private draftsAnswerer = false;
  /** The current lock's wait for that answer, and what ends it. */
  private draftsWait: Promise<void> | undefined;
  private endDraftsWait: (() => void) | undefined;
  /** Lifecycle changes (create, unlock, lock, register) run one at a time. */
  private readonly queue = new PQueue({ concurrency: 1 });
  private readonly autoLock = new AutoLock(() => this.serial(() => this.lockNow()));

  constructor(
    private readonly opts: LifecycleOptions,
    private readonly parts: LifecycleParts,
  ) {
    this.autoLockMinutes = autoLockMinutesOf(opts.profileDir);
  }

  get timers(): DisappearingTimers | undefined {
    return this.disappearing;
  }

  /** As callAnyTime, but refused while a lock is under way. */
  readonly call: ApiCall = async (fn, about) => {
    if (this.locking) throw new ApiError('VAULT_LOCKED', 'The vault is locking.');
    return this.callAnyTime(fn, about);
  };

  /** The vault methods (status, unlock, lock...) run during a lock too: they queue behind it. */
  private readonly callAnyTime: ApiCall = async (fn, about) => {
    if (this.closed) throw new ApiError('DISCONNECTED', 'The messenger was closed.');
    this.touch();
    try {
      return await fn();
    } catch (e) {
      throw toServiceError(e, about);
    }
  };

  serial<T>(fn: () => Promise<T>): Promise<T> {
    return this.queue.add(fn);
  }

  /**
   * The contract's lockDrafts: `write` seals a window's composer texts (none: undefined), also
   * while a lock is under way (until the session closes), and ends that lock's wait. Does not restart
   * the auto-lock during a lock (its timer is stopped by then).
   */
  async lockDrafts(write: (() => void) | undefined): Promise<void> {
    if (this.closed) throw new ApiError('DISCONNECTED', 'The messenger was closed.');
    this.draftsAnswerer = true;
    if (!this.locking) this.touch();
    try {
      // Nothing to seal (a window saying it answers locks, or an answer with no text): fine locked too.
      if (!write) return;
      if (!this.session?.vault.isUnlocked) throw new ApiError('VAULT_LOCKED', 'The vault is locked.');
      await this.activity(async () => write());
    } catch (e) {
      throw toServiceError(e);
    } finally {
      this.endDraftsWait?.();
    }
  }

  /** Resolves at the window's lockDrafts answer or after LOCK_DRAFT_WAIT_MS, whichever is first. */
  private waitForDrafts(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.endDraftsWait = undefined;
        resolve();
      };
      const timer = setTimeout(done, LOCK_DRAFT_WAIT_MS);
      this.endDraftsWait = done;
    });
  }

  // ------------------------------------------------------------------ the unlocked state

  /** The one check for "unlocked": the session exists from unlock to lock. */
  require(): UnlockedSession {
    const s = this.session;
    if (s?.vault.isUnlocked) return s;
    if (Vault.exists(this.opts.profileDir)) throw new ApiError('VAULT_LOCKED', 'The vault is locked.');
    throw new ApiError('NO_VAULT', 'There is no vault in this profile yet.');
  }

  current(): UnlockedSession | undefined {
    return this.session;
  }

  registration(): Registration {
    const registration = this.require().registration;
    if (!registration) throw new ApiError('NOT_REGISTERED', 'Register this profile on a relay first.');
    return registration;
  }

  /** Runs fn as one vault activity (see Vault.activity); without a vault, just runs it. */
  activity<T>(fn: () => Promise<T>): Promise<T> {
    const vault = this.session?.vault;
    return vault ? vault.activity(fn) : fn();
  }

  status(): VaultStatus {
    const { profileDir } = this.opts;
    const unlocked = this.session?.vault.isUnlocked === true;
    const account = this.session?.registration?.account;
    return {
      // A vault.db whose header was lost is a locked vault: the phrase opens it (recovery-copy.ts).
      vault: unlocked ? 'unlocked' : Vault.exists(profileDir) || Vault.headerMissing(profileDir) ? 'locked' : 'none',
      recoveryConfirmed: readSettings(profileDir).recoveryConfirmed,
      account: unlocked && account ? { handle: account.handle, relayUrl: account.descriptor.url } : null,
    };
  }

  settings(): Settings {
    const relay = this.session?.vault.isUnlocked ? this.parts.account.configuredRelay() : undefined;
    return settingsView(this.opts.profileDir, relay?.url ?? null);
  }

  touch(): void {
    this.autoLock.restart(this.autoLockMinutes(), this.session?.vault.isUnlocked === true);
  }

  /** Every API call restarts the auto-lock: its minutes come from the file only when it changed. */
  private readonly autoLockMinutes: () => number;

  // ------------------------------------------------------------------ the contract's vault methods

  /** The vault methods of the contract, as the facade serves them. */
  methods(): VaultMethods {
    const { profileDir } = this.opts;
    const allowWeak = this.opts.allowWeakSecrets;
    const { emit } = this.parts;
    return {
      vaultStatus: () => this.callAnyTime(() => this.status()),
      createVault: (params) =>
        this.callAnyTime(() =>
          this.serial(async () => {
            if (this.session?.vault.isUnlocked) throw new ApiError('VAULT_EXISTS', 'A vault is already open in this profile.');
            refuseWeakSecret(params.password, 'password', allowWeak);
            const { vault, recoveryPhrase, setAside } = await Vault.create(profileDir, params.password, this.opts.kdf ? { kdf: this.opts.kdf } : undefined);
            writeSettings(profileDir, { ...readSettings(profileDir), recoveryConfirmed: false });
            await this.afterUnlock(vault);
            return { recoveryPhrase, ...(setAside === undefined ? {} : { setAside }) };
          }),
        ),
      confirmRecoveryPhrase: (params) =>
        this.callAnyTime(() => {
          // Checked against the vault's recovery wrap, so the phrase need not stay in memory and
          // the check works in any later session too.
          const confirmed = this.require().vault.checkRecoveryPhrase(params.recoveryPhrase);
          if (confirmed) {
            writeSettings(profileDir, { ...readSettings(profileDir), recoveryConfirmed: true });
            emit('vault', this.status());
          }
          return { confirmed };
        }),
      unlock: (params) =>
        this.callAnyTime(() =>
          this.serial(async () => {
            if (!this.session?.vault.isUnlocked) await this.afterUnlock(await Vault.unlock(profileDir, params.password));
            return this.status();
          }),
        ),
      unlockWithRecovery: (params) =>
        this.callAnyTime(() =>
          this.serial(async () => {
            if (this.session?.vault.isUnlocked) throw new ApiError('VAULT_EXISTS', 'The vault is already unlocked.');
            refuseWeakSecret(params.newPassword, 'password', allowWeak);
            const vault = await Vault.unlockWithRecovery(profileDir, params.recoveryPhrase, params.newPassword);
            writeSettings(profileDir, { ...readSettings(profileDir), recoveryConfirmed: true });
            await this.afterUnlock(vault);
            return this.status();
          }),
        ),
      lock: () =>
        this.callAnyTime(() => {
          // Set now, not when the lock's turn comes: a send asked for after the lock is refused.
          this.beginLocking();
          return this.serial(() => this.lockNow());
        }),
      changePassword: (params) =>
        this.callAnyTime(async () => {
          const vault = this.require().vault;
          refuseWeakSecret(params.newPassword, 'password', allowWeak);
          await vault.changePassword(params.oldPassword, params.newPassword);
        }),
      wipeProfile: (params) => this.callAnyTime(() => this.serial(() => this.wipe(params.password))),
      // Diagnostics that never open the session (messenger/vault-check.ts); one at a time with unlock and lock.
      vaultInfo: () => this.callAnyTime(() => vaultInfo(profileDir)),
      vaultCheck: (params) => this.callAnyTime(() => this.serial(() => checkVault(profileDir, params.password, this.session?.vault, (fn) => this.activity(fn)))),
    };
  }

  private async wipe(password: string): Promise<ResultOf<'wipeProfile'>> {
    const { profileDir } = this.opts;
    const { emit } = this.parts;
    if (!this.session?.vault.isUnlocked) {
      // Not open here: the profile lock first (a profile open in another process is refused
      // before any password check), held through the check and the wipe.
      const summary = await wipeClosedProfile(profileDir, password);
      emit('vault', this.status());
      return summary;
    }
    // Open here (this process holds the lock). Checked before anything closes: a wrong
    // password leaves the app as it was.
    await verifyPassword(profileDir, password);
    // Pinned first: closing deletes the WAL and replaces the search snapshot (wipe.ts).
    const pins = pinProfileFiles(profileDir);
    let summary: ResultOf<'wipeProfile'>;
    try {
      // Closes the connection, search (its snapshot is written now, then wiped) and the vault.
      await this.lockNow();
      // The lock's scrub (main/vault/scrub.ts) holds the profile until it ends.
      await Vault.scrubbed(profileDir);
      summary = wipeVerifiedProfile(profileDir);
    } catch (e) {
      pins.release();
      throw e;
    }
    emit('vault', this.status());
    return summary;
  }

  /** Locks for good; the messenger is unusable afterwards. False when it was closed already. */
  async close(): Promise<boolean> {
    if (this.closed) return false;
    await this.serial(() => this.lockNow());
    this.closed = true;
    // The app quits or the CLI exits next: the lock's scrub (main/vault/scrub.ts) ends first, or
    // what it removes would stay in vault.db while the machine is off.
    await Vault.scrubbed(this.opts.profileDir);
    return true;
  }

  // ------------------------------------------------------------------ unlock and lock

  private async afterUnlock(vault: Vault): Promise<void> {
    const { emit, account, sender, deleter } = this.parts;
    let session: UnlockedSession;
    let counting: Expiring[];
    try {
      ({ session, counting } = await openSession(vault));
    } catch (e) {
      await this.lockNow();
      if (await lockVault(vault)) {
        emit('vault', this.status());
        emit('connection', account.offlineState());
      }
      throw e;
    }
    this.session = session;
    this.disappearing = new DisappearingTimers(vault, counting, {
      deleteExpired: async (conversationId, messages) => void (await deleter.forMeInSlices(conversationId, messages)),
      activity: (fn) => this.activity(fn),
      announce: (m) => emit('message', this.parts.viewOf(m)),
    });
    emit('vault', this.status());
    emit('settings', this.settings());
    if (session.registration && !this.opts.offline) {
      await account.connect(session.registration.account.descriptor);
      void sender.enqueue(() => this.activity(() => sender.resumeQueued())).catch(() => undefined);
      // Receipts withdrawn by a deletion made before the connection was up (the unlock purge, offline mode) go again now.
      void sender.enqueue(() => this.activity(() => resendWithdrawnReceipts({ current: () => this.session }))).catch(() => undefined);
      // Receipts the last lock kept (they found the connection stopped) go now.
      void sender.enqueue(() => this.activity(() => this.parts.receipts.resendKept())).catch(() => undefined);
    } else {
      emit('connection', account.offlineState());
      // No connection to say so: a failed disk write is shown by the offline state itself (the
      // listener goes with the vault's gate at lock; a new unlock makes a new one).
      vault.onDurabilityLost(() => {
        if (this.session === session && !session.connection) emit('connection', account.offlineState());
      });
    }
  }

  /** Stops every job in order (nothing new arrives, queues drain), then closes the session. */
  private async lockNow(): Promise<void> {
    this.beginLocking();
    try {
      await this.stopSession();
    } finally {
      this.locking = false;
      this.draftsWait = undefined;
      if (this.lockingAnnounced) {
        this.lockingAnnounced = false;
        this.parts.emit('locking', { underWay: false });
      }
    }
  }

  /**
   * Calls are refused from here on. The UI hears it at once when there is a session to lock (not
   * only at the final 'vault' event), so it stops offering sends whose text would be refused.
   */
  private beginLocking(): void {
    this.locking = true;
    if (this.lockingAnnounced || !this.session?.vault.isUnlocked) return;
    this.lockingAnnounced = true;
    // The window answers this event with the text in its composers (lockDrafts), typed in the
    // draft save's pause too; the lock waits for it before it closes the vault.
    if (this.draftsAnswerer) this.draftsWait = this.waitForDrafts();
    this.parts.emit('locking', { underWay: true });
  }

  private async stopSession(): Promise<void> {
    const { emit, account, sender, receipts, searchCatchUp, counters, backups, attachmentUi } = this.parts;
    // Opened backups are decrypted history in RAM: locking drops them too.
    backups.closeAll();
    if (this.session) attachmentUi.dropAll(this.session.vault);
    // Held delivered receipts go while the connection is still up (bounded): the authors see
    // "delivered" now, not after this device's next unlock.
    await receipts.sendHeld(LOCK_RECEIPT_WAIT_MS);
    searchCatchUp.stop();
    this.autoLock.stop();
    account.stop();
    counters.stopTimer();
    const session = this.session;
    await session?.stopConnection();
    // Whatever is held or queued still (a text stored meanwhile, a send queue that was long) finds
    // no connection when its turn comes and is kept sealed for the next one (receipts.ts), while
    // the vault is still open here.
    receipts.stop();
    await sender.idle();
    sender.forgetSent();
    // The window's composer texts, sealed while the vault is still open (bounded wait).
    await this.draftsWait;
    this.draftsWait = undefined;
    // Only now: a send that ran during the receipt wait or after the connection stopped (stored
    // 'queued' for the next unlock) took its conversation's timer and recorded it.
    this.disappearing?.stop();
    this.disappearing = undefined;
    counters.drain(session?.vault.isUnlocked === true);
    this.session = undefined;
    // Search snapshot, vault lock (keys zeroed), then garbage collection (session.ts).
    const wasUnlocked = session ? await session.close() : false;
    if (wasUnlocked) {
      emit('vault', this.status());
      emit('connection', account.offlineState());
    }
  }
}

/**
 * The profile's auto-lock minutes, read from its settings file only when that file changed since
 * the last call (reading and parsing it on every API call was ~2% of a send's CPU). A settings
 * write replaces the file (settings.ts: write to a temporary file, rename), so its inode and time
 * change with every write, whoever makes it.
 */
export function autoLockMinutesOf(profileDir: string): () => number {
  const path = join(profileDir, SETTINGS_FILE);
  let last: { file: string; minutes: number } | undefined;
  return () => {
    const st = statSync(path, { bigint: true, throwIfNoEntry: false });
    const file = st ? `${st.dev}:${st.ino}:${st.mtimeNs}:${st.size}` : 'none';
    if (last?.file === file) return last.minutes;
    const minutes = readSettings(profileDir).autoLockMinutes;
    last = { file, minutes };
    return minutes;
  };
}
