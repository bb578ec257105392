// The tests' byte scans read a profile "at rest": test/vault/at-rest.ts waits for the scrub that a
// lock started, in the folder given or any profile under it. A scan that did not wait read
// vault.db-wal while the scrub removed it (a CI failure: ENOENT in the middle of a scan).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SCRUB_OWED_FILE } from '../../main/vault/scrub.ts';
import { atRest } from './at-rest.ts';
import { testVaults } from './helpers.ts';

const vaults = testVaults();
afterEach(() => vaults.cleanup());

describe('atRest', () => {
  it("waits for the lock's scrub of a profile under the folder it is given", async () => {
    const { vault, dir } = await vaults.fresh();
    vault.kvSet('at-rest', 'a', Buffer.from('gone soon'));
    vault.kvForget('at-rest', 'a'); // owes the scrub
    vault.lock();
    // The scrub has started and holds the profile: the marker and the lock file are still there.
    expect(existsSync(join(dir, SCRUB_OWED_FILE))).toBe(true);
    expect(existsSync(join(dir, 'vault.lock'))).toBe(true);
    await atRest(dirname(dir));
    expect(existsSync(join(dir, SCRUB_OWED_FILE))).toBe(false);
    expect(existsSync(join(dir, 'vault.lock'))).toBe(false);
  });
});
