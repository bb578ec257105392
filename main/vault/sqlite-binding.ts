// Which compiled better-sqlite3 addon to load. Under plain Node (tests, CLI, relay, browser mode)
// the package's own build is right. Under Electron in development (`npm start`), the addon must
// be built for Electron's ABI; scripts/native-electron.ts builds it into its own directory, so
// the Node build used by `npm test` is never replaced, and passes its path here through
// EPHEMERA_SQLITE_BINDING. A packaged app needs neither: electron-builder rebuilds the package's
// own addon for Electron, and ignores the variable (shared/packaged.ts): an environment must not
// choose native code for the app that holds the keys.
import { isAbsolute } from 'node:path';
import type Database from 'better-sqlite3';
import { isPackaged } from '../../shared/packaged.ts';

export const SQLITE_BINDING_ENV = 'EPHEMERA_SQLITE_BINDING';

export function sqliteNativeBinding(
  env: NodeJS.ProcessEnv = process.env,
  versions: NodeJS.ProcessVersions = process.versions,
  packaged: boolean = isPackaged(),
): string | undefined {
  if (!versions.electron || packaged) return undefined;
  const binding = env[SQLITE_BINDING_ENV];
  if (binding === undefined || binding === '') return undefined;
  if (!isAbsolute(binding) || !binding.endsWith('.node')) {
    throw new Error(`${SQLITE_BINDING_ENV} must be the absolute path of a .node file`);
  }
  return binding;
}

/** Options to spread into every `new Database(...)` of the main process. */
export function sqliteOptions(env?: NodeJS.ProcessEnv, versions?: NodeJS.ProcessVersions, packaged?: boolean): Pick<Database.Options, 'nativeBinding'> {
  const nativeBinding = sqliteNativeBinding(env, versions, packaged);
  return nativeBinding ? { nativeBinding } : {};
}
