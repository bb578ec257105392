// The contract's account methods: registering on a relay, the connection's state, the profile's
// settings and waiting for the work in flight (messenger/account.ts, settings.ts, sync.ts do it),
// and the 'scrub' event (the scrub at lock holds the profile: main/vault/scrub.ts).
import type { EphemeraApi } from '../../shared/api.ts';
import { watchScrubsOf } from '../vault/scrub.ts';
import type { Account } from './account.ts';
import type { Emit } from './events.ts';
import type { SessionLifecycle, ApiCall } from './session-lifecycle.ts';
import { updatePreferences } from './settings.ts';
import { waitIdle, type SyncParts } from './sync.ts';

export type AccountMethods = Pick<EphemeraApi, 'register' | 'connectionState' | 'sync' | 'settingsGet' | 'settingsUpdate'>;

export interface AccountApiParts {
  call: ApiCall;
  life: Pick<SessionLifecycle, 'serial' | 'status' | 'settings' | 'touch' | 'current'>;
  account: Pick<Account, 'register' | 'upkeep' | 'offlineState' | 'setRelay'>;
  emit: Emit;
  profileDir: string;
  /** What `sync` waits for. */
  sync: SyncParts;
}

export function accountMethods(p: AccountApiParts): AccountMethods {
  const { call, life, account, emit } = p;
  // The scrub at lock holds the profile (main/vault/scrub.ts): the UI says why an unlock waits.
  // Watched while the messenger's emit lives (held weakly: a closed messenger can go).
  watchScrubsOf(p.profileDir, emit, emitScrub);
  return {
    register: (params) =>
      call(
        () =>
          life.serial(async () => {
            if (await account.register(params.handle, params.serverDescriptor)) {
              emit('vault', life.status());
              emit('settings', life.settings());
              void account.upkeep();
            }
            return life.status();
          }),
        // The handle names what a relay refusal concerns, for its sentence.
        { handle: params.handle },
      ),
    connectionState: () => call(() => life.current()?.connection?.state() ?? account.offlineState()),
    sync: (params) => call(async () => ({ done: await waitIdle(p.sync, params.timeoutMs, params.quietMs ?? 400) })),
    settingsGet: () => call(() => life.settings()),
    settingsUpdate: (params) =>
      call(() => {
        if (params.relayDescriptor !== undefined) account.setRelay(params.relayDescriptor);
        updatePreferences(p.profileDir, params);
        life.touch();
        const settings = life.settings();
        emit('settings', settings);
        return settings;
      }),
  };
}

/** Module-level, so the watch captures no messenger (watchScrubsOf). */
function emitScrub(emit: Emit, underWay: boolean): void {
  emit('scrub', { underWay });
}
