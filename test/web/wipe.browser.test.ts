// "Delete all data" in the real UI (Chromium, browser mode, real relay and web host; issue #14):
// Settings -> Delete all data asks for the password again; a wrong one is refused and changes
// nothing; the right one removes the profile and the app is back at Create your vault. The
// confirmation: screenshots in light and dark, every control named, axe clean.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { browserScene, expectAccessible, expectAllNamed, onboard, PASSWORD, shotBothThemes } from './browser-harness.ts';

const scene = browserScene('wipe', 'wipe');
let page: Page;
let profile: string;

describe('Delete all data in Chromium', () => {
  beforeAll(async () => {
    const relay = await scene.startRelay();
    const url = await scene.startWeb('alice', relay.descriptor);
    profile = path.join(scene.tmp, 'alice');
    await scene.launch();
    page = (await scene.newPage()).page;
    await onboard(page, url, 'alice');
  });

  afterEach(() => {
    expect(scene.problems.splice(0)).toEqual([]);
  });

  afterAll(() => scene.close());

  it('asks for the password, refuses a wrong one, then wipes the profile and shows Create your vault', async () => {
    await page.getByRole('button', { name: 'Settings' }).click();
    await page.getByRole('button', { name: 'Delete all data…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete all data?' });
    await dialog.waitFor();
    await dialog.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await shotBothThemes(page, scene.shotsDir, 'wipe-confirm');
    await expectAllNamed(page, 'wipe-confirm');
    await expectAccessible(page, 'wipe-confirm');

    const vaultDb = path.join(profile, 'vault.db');
    const before = fs.readFileSync(path.join(profile, 'vault.header.json'));
    await dialog.getByLabel('Password', { exact: true }).fill('not the password at all');
    await dialog.getByRole('button', { name: 'Delete all data' }).click();
    await dialog.getByRole('alert').waitFor({ timeout: 30_000 });
    expect(fs.readFileSync(path.join(profile, 'vault.header.json')).equals(before)).toBe(true);
    expect(fs.existsSync(vaultDb)).toBe(true);

    await dialog.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await dialog.getByRole('button', { name: 'Delete all data' }).click();
    await page.getByRole('heading', { name: 'Create your vault' }).waitFor({ timeout: 60_000 });
    expect(fs.existsSync(vaultDb)).toBe(false);
    expect(fs.existsSync(path.join(profile, 'vault.header.json'))).toBe(false);
    await shotBothThemes(page, scene.shotsDir, 'wipe-done');
  });
});
