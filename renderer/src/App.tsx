import { useEffect, useState } from 'react';
import type { Settings, VaultStatus } from '../../shared/api.ts';
import type { LinkState } from '../../shared/api/socket-client.ts';
import { ApiContext, errorText, ReconnectContext, type Connection } from './api.ts';
import { answerLocks, LockingContext, lockApp } from './locking.ts';
import { CreateVault } from './screens/CreateVault.tsx';
import { Messenger } from './screens/Messenger.tsx';
import { Register } from './screens/Register.tsx';
import { Unlock } from './screens/Unlock.tsx';

const IDLE_EVENTS = ['keydown', 'pointerdown', 'pointermove', 'wheel', 'touchstart'] as const;
const REFUSED = 'This address was already used or belongs to an earlier start of Ephemera (it works once). Restart Ephemera and open the new address it prints.';

export function App({ connection }: { connection: Connection }) {
  const api = connection.client;
  const [status, setStatus] = useState<VaultStatus | null>(null);
  const [settings, setSettings] = useState<Settings | null>(null);
  const [problem, setProblem] = useState('');
  const [link, setLink] = useState<LinkState>('open');
  const [onboarding, setOnboarding] = useState(false);
  const [reconnects, setReconnects] = useState(0);
  const [locking, setLocking] = useState(false);
  // The scrub at lock holds the profile ('scrub' event): the unlock screen says why an unlock waits.
  const [cleaning, setCleaning] = useState(false);

  useEffect(() => {
    const load = () => {
      api.vaultStatus().then(
        (s) => {
          setStatus(s);
          setProblem('');
        },
        (err: unknown) => setProblem(errorText(err)),
      );
      api.settingsGet().then(setSettings, () => undefined);
    };
    load();
    const offs = [
      answerLocks(api),
      api.on('vault', setStatus),
      api.on('locking', ({ underWay }) => setLocking(underWay)),
      api.on('scrub', ({ underWay }) => setCleaning(underWay)),
      api.on('settings', setSettings),
      connection.onLinkChange((state) => {
        setLink(state);
        if (state !== 'open') return;
        // Events missed while the link was down are not sent again: a lock then under way ends
        // within seconds, and the vault status loaded now or its 'vault' event shows it.
        setLocking(false);
        setCleaning(false);
        load();
        // A new link may be a new host session: say again that this window answers locks.
        api.lockDrafts({ drafts: [] }).catch(() => undefined);
        setReconnects((n) => n + 1);
      }),
    ];
    return () => offs.forEach((off) => off());
  }, [api, connection]);

  // Theme: the data attribute is always the resolved theme ('system' follows prefers-color-scheme,
  // live), so the stylesheet defines the dark palette once.
  useEffect(() => {
    const chosen = settings?.theme ?? 'system';
    const media = window.matchMedia('(prefers-color-scheme: dark)');
    const apply = () => {
      document.documentElement.dataset.theme = chosen === 'system' ? (media.matches ? 'dark' : 'light') : chosen;
    };
    apply();
    if (chosen !== 'system') return undefined;
    media.addEventListener('change', apply);
    return () => media.removeEventListener('change', apply);
  }, [settings?.theme]);

  // Keep the create flow on screen after the vault exists: the phrase must still be shown and confirmed.
  useEffect(() => {
    if (status?.vault === 'none') setOnboarding(true);
  }, [status?.vault]);

  const unlocked = status?.vault === 'unlocked';

  // Lock shortcut and idle auto-lock, only while unlocked.
  useEffect(() => {
    if (!unlocked) return;
    const lock = () => void lockApp(api);
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && e.shiftKey && e.key.toLowerCase() === 'l') {
        e.preventDefault();
        lock();
      }
    };
    window.addEventListener('keydown', onKey);
    const minutes = settings?.autoLockMinutes ?? 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      if (timer) clearTimeout(timer);
      if (minutes > 0) timer = setTimeout(lock, minutes * 60_000);
    };
    arm();
    for (const name of IDLE_EVENTS) window.addEventListener(name, arm, { passive: true });
    return () => {
      window.removeEventListener('keydown', onKey);
      for (const name of IDLE_EVENTS) window.removeEventListener(name, arm);
      if (timer) clearTimeout(timer);
    };
  }, [api, unlocked, settings?.autoLockMinutes]);

  let screen;
  // Refused before anything loaded: the card says why once (a reload would be refused too).
  const refusedAtStart = link === 'refused' && !status;
  if ((problem || refusedAtStart) && !status) {
    screen = (
      <main className="onboarding">
        <h1>Ephemera cannot start</h1>
        <p role="alert" className="error">
          {refusedAtStart ? REFUSED : problem}
        </p>
      </main>
    );
  } else if (!status) {
    screen = (
      <main className="onboarding" aria-busy="true">
        <p>Opening…</p>
      </main>
    );
  } else if (status.vault === 'none' || onboarding) {
    screen = <CreateVault onDone={() => setOnboarding(false)} />;
  } else if (status.vault === 'locked') {
    screen = <Unlock cleaning={cleaning} />;
  } else if (!status.account) {
    screen = <Register settings={settings} />;
  } else {
    screen = <Messenger mode={connection.mode} status={status} settings={settings ?? { relayUrl: null, autoLockMinutes: 0, theme: 'system', notifications: 'sender', keepImageMetadata: false }} />;
  }

  return (
    <ApiContext.Provider value={api}>
      {link !== 'open' && !refusedAtStart ? (
        <div className="banner warn" role="alert">
          {link === 'refused'
            ? REFUSED
            : link === 'closed'
              ? 'Lost the connection to the Ephemera service. Reconnecting…'
              : 'Connecting to the Ephemera service…'}
        </div>
      ) : null}
      {locking && unlocked ? (
        <div className="banner info locking" role="status">
          Locking…
        </div>
      ) : null}
      <LockingContext.Provider value={locking && unlocked}>
        <ReconnectContext.Provider value={reconnects}>{screen}</ReconnectContext.Provider>
      </LockingContext.Provider>
    </ApiContext.Provider>
  );
}
