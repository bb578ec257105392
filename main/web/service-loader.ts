// Finds the service that implements shared/api.ts. The messenger (main/messenger.ts, issue 4)
// is written separately; both hosts (Electron and the browser host) load it through here so
// neither needs a change when it lands. Expected export:
//   export async function openMessenger(opts: { profileDir: string; serverDescriptorPath?: string }):
//     Promise<EphemeraService & { close(): Promise<void> }>
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import fs from 'node:fs';
import { methodNames, type EphemeraService } from '../../shared/api.ts';

export interface ServiceOptions {
  profileDir: string;
  serverDescriptorPath?: string;
}

export interface ServiceHandle {
  service: EphemeraService;
  close(): Promise<void>;
}

export class ServiceUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ServiceUnavailable';
  }
}

/** Where the messenger may live: main/messenger.ts or main/messenger/index.ts. */
const MESSENGER_CANDIDATES = [path.resolve(import.meta.dirname, '..', 'messenger.ts'), path.resolve(import.meta.dirname, '..', 'messenger', 'index.ts')];

/** Structural check: everything the hosts will call exists. */
export function isEphemeraService(value: unknown): value is EphemeraService {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return typeof record.subscribe === 'function' && methodNames.every((m) => typeof record[m] === 'function');
}

export async function loadService(options: ServiceOptions, modulePath?: string): Promise<ServiceHandle> {
  const candidates = modulePath ? [modulePath] : MESSENGER_CANDIDATES;
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) {
    throw new ServiceUnavailable('The messenger service (main/messenger.ts) is not built yet, so there is nothing to serve.');
  }
  return openFrom(found, options);
}

async function openFrom(modulePath: string, options: ServiceOptions): Promise<ServiceHandle> {
  // A variable specifier: the module may not exist at typecheck time.
  const mod = (await import(pathToFileURL(modulePath).href)) as Record<string, unknown>;
  const open = mod.openMessenger;
  if (typeof open !== 'function') {
    throw new ServiceUnavailable(`${path.basename(modulePath)} does not export openMessenger(options).`);
  }
  const opened: unknown = await (open as (o: ServiceOptions) => Promise<unknown>)(options);
  if (!isEphemeraService(opened)) {
    const missing = ['subscribe', ...methodNames].filter((m) => typeof (opened as Record<string, unknown> | null)?.[m] !== 'function');
    throw new ServiceUnavailable(`openMessenger() returned an object missing: ${missing.slice(0, 8).join(', ')}.`);
  }
  const closable = opened as EphemeraService & { close?: () => Promise<void> };
  return {
    service: opened,
    close: async () => {
      if (typeof closable.close === 'function') await closable.close();
    },
  };
}
