// Closing the messenger (the app quits, a CLI command ends) waits for the scrub its lock started
// (main/vault/scrub.ts): the process exits next, which would cut the scrub short and leave what it
// removes in vault.db while the machine is off (review s24 L2). Its listeners hear the scrub's
// start and end ('scrub' event: the unlock screen's status line, the CLI's notice).
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { openMessenger } from '../../main/messenger.ts';
import { TEST_KDF } from '../../main/vault/index.ts';
import { SCRUB_OWED_FILE } from '../../main/vault/scrub.ts';

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

it('close resolves once the lock\'s scrub has ended: no marker left, the profile free', async () => {
  const root = mkdtempSync(join(tmpdir(), 'ephemera-close-scrub-'));
  roots.push(root);
  const profile = join(root, 'profile');
  const m = await openMessenger({ profileDir: profile, kdf: TEST_KDF });
  const heard: { underWay: boolean; lockHeld: boolean }[] = [];
  m.subscribe((e) => {
    if (e.name === 'scrub') heard.push({ underWay: e.payload.underWay, lockHeld: existsSync(join(profile, 'vault.lock')) });
  });
  await m.createVault({ password: 'a long enough close test password' });
  // Owed, as after a deletion in this unlock.
  writeFileSync(join(profile, SCRUB_OWED_FILE), '');
  await m.close();
  expect(existsSync(join(profile, SCRUB_OWED_FILE))).toBe(false);
  expect(existsSync(join(profile, 'vault.lock'))).toBe(false);
  // Told while the scrub held the profile, and once it let it go.
  expect(heard).toEqual([
    { underWay: true, lockHeld: true },
    { underWay: false, lockHeld: false },
  ]);
});
