// JSON values in the vault's sealed kv namespaces: the jobs that keep small records there
// (timers, receipt records) read and write them the same way.
import type { Vault } from '../vault/index.ts';

/**
 * The value stored under ns/key, or undefined when there is none or it is not JSON (the caller
 * checks its shape). `strict`: bad JSON throws instead, for records only this code writes whose
 * loss must not pass unnoticed (group state, receipt records, attachment records).
 */
export function readKvJson(vault: Vault, ns: string, key: string, opts: { strict?: boolean } = {}): unknown {
  const raw = vault.kvGet(ns, key);
  if (!raw) return undefined;
  try {
    return JSON.parse(Buffer.from(raw).toString('utf8')) as unknown;
  } catch (err) {
    if (opts.strict === true) throw err;
    return undefined;
  }
}

export function writeKvJson(vault: Vault, ns: string, key: string, value: unknown): void {
  vault.kvSet(ns, key, Buffer.from(JSON.stringify(value), 'utf8'));
}
