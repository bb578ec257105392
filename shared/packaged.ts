// Whether this process is the packaged desktop app. In a packaged app no environment variable
// selects native code (the SQLite addon path), turns on a test hook, or changes where the app
// reads its profile or relay from: anyone who can set the environment of the user's launch
// (a shortcut, a login script) must not gain that. Development (`npm start`), tests, the CLI
// and the relay keep reading them.
// main/app/main.ts calls markPackaged() first when Electron reports app.isPackaged; only the
// shell may import electron, so the rest of main/ and shared/ ask here. The mark cannot be undone.
let packaged = false;

export function markPackaged(): void {
  packaged = true;
}

export function isPackaged(): boolean {
  return packaged;
}

/** A variable for development and tests only: undefined in a packaged app, whatever is set. */
export function devEnv(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return packaged ? undefined : env[name];
}

/** Test-only hooks may be installed: inside vitest, or a test's child process, never when packaged. */
export function testHooksAllowed(env: NodeJS.ProcessEnv = process.env): boolean {
  return !packaged && (Boolean(env.VITEST) || env.EPHEMERA_TEST_HOOKS === '1');
}
