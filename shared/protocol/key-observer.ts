// Test-only observer of secret keys as they come into being (vault data key and subkeys,
// permanent key seed, temp transport keys). The lock-memory test captures them through it and
// then searches the locked process's memory for them. The observer receives the live bytes and
// must not keep or copy them (the test writes them out as hex at once), or it would itself leave
// the copies the test looks for. Refuses to install outside a test run.
import { testHooksAllowed } from '../packaged.ts';

export type KeyObserver = (label: string, key: Uint8Array) => void;

let observer: KeyObserver | undefined;

export function installKeyObserverForTests(fn: KeyObserver | undefined): void {
  if (!testHooksAllowed()) throw new Error('test hook outside tests');
  observer = fn;
}

/** Called where a key is made; does nothing unless a test installed an observer. */
export function observeKey(label: string, key: Uint8Array): void {
  observer?.(label, key);
}
