// A group member whose identity key changed (Chromium, browser mode; the rule "each member's
// identity follows the 1:1 rules"): alice (the page) has bob in a group; bob reinstalls (same
// device key, so the relay keeps his handle; a new Signal identity) and writes to her. Her group
// info panel then marks bob "Safety number changed" with a Review button (keyboard reachable,
// named after him) that opens his safety number; accepting it there and going back clears the
// mark. Before that, alice's 1:1 chat with bob shows the identity-change banner. A text bob deletes
// for everyone shows at alice as "This message was deleted". bob runs in this process (a real messenger on a real vault), alice in the web host.
// Screenshots light and dark; every control named; axe clean; no console error.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { openMessenger, type Messenger } from '../../main/messenger.ts';
import { PERMANENT_KEY_SECRET } from '../../main/net/stores.ts';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import { browserScene, expectAccessible, expectAllNamed, onboard, PASSWORD, shotBothThemes } from './browser-harness.ts';

const scene = browserScene('group-key', 'group-key-change');
const NAME = 'Key check';
const T = 60_000;
let alice: Page;
let descriptorText = '';
const running: Messenger[] = [];

async function check(page: Page, name: string): Promise<void> {
  await shotBothThemes(page, scene.shotsDir, name);
  await expectAllNamed(page, name);
  await expectAccessible(page, name);
}

/** A profile in this process registered as `handle` (optionally with a given device key seed). */
async function inProcess(dir: string, handle: string, seed?: Uint8Array): Promise<Messenger> {
  if (seed) {
    const { vault } = await Vault.create(dir, PASSWORD, { kdf: TEST_KDF });
    vault.setAccountSecret(PERMANENT_KEY_SECRET, seed);
    vault.lock();
  }
  const m = await openMessenger({ profileDir: dir, kdf: TEST_KDF });
  running.push(m);
  if (seed) await m.unlock({ password: PASSWORD });
  else await m.createVault({ password: PASSWORD });
  await m.register({ handle, serverDescriptor: descriptorText });
  return m;
}

describe('A group member with a changed safety number', () => {
  beforeAll(async () => {
    const relay = await scene.startRelay();
    descriptorText = readFileSync(relay.descriptor, 'utf8');
    const url = await scene.startWeb('alice', relay.descriptor);
    await scene.launch();
    alice = (await scene.newPage()).page;
    await onboard(alice, url, 'alice');
  });

  afterEach(() => {
    expect(scene.problems.splice(0)).toEqual([]);
  });

  afterAll(async () => {
    for (const m of running) await m.close().catch(() => undefined);
    await scene.close();
  });

  it('a text bob deletes for everyone shows as deleted; his changed number is marked in the info panel until alice accepts it', async () => {
    const bobDir = path.join(scene.tmp, 'bob');
    const bob = await inProcess(bobDir, 'bob');
    await alice.keyboard.press('Control+n');
    await alice.getByLabel('Their handle').fill('bob');
    await alice.getByRole('button', { name: 'Add contact' }).click();
    await alice.getByRole('heading', { name: 'bob', level: 2 }).waitFor();
    await alice.getByRole('button', { name: 'New group' }).click();
    const dialog = alice.getByRole('dialog', { name: 'New group' });
    await dialog.getByLabel('Group name').fill(NAME);
    await dialog.getByRole('checkbox', { name: '@bob' }).check();
    await dialog.getByRole('button', { name: 'Create group' }).click();
    await alice.getByRole('heading', { name: `${NAME} 2 members`, level: 2 }).waitFor({ timeout: T });

    // A text bob takes back (delete for everyone) shows at alice as a tombstone.
    const deadline = Date.now() + T;
    let g = (await bob.groupsList()).find((x) => x.name === NAME);
    while (!g && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      g = (await bob.groupsList()).find((x) => x.name === NAME);
    }
    if (!g) throw new Error('bob never got the group');
    const sent = await bob.groupSend({ groupId: g.groupId, text: 'sent by mistake' });
    const log = alice.getByRole('log', { name: `Messages in ${NAME}` });
    await log.locator('.bubble', { hasText: 'sent by mistake' }).waitFor({ timeout: T });
    await bob.deleteMessage({ conversationId: g.conversationId, messageId: sent.id, forEveryone: true });
    await log.locator('.bubble.tombstone', { hasText: 'This message was deleted' }).waitFor({ timeout: T });
    expect(await log.getByText('sent by mistake').count()).toBe(0);

    // No change yet: no mark.
    await alice.getByRole('button', { name: 'Group info' }).click();
    let info = alice.getByRole('dialog', { name: `Group info: ${NAME}` });
    await info.waitFor();
    expect(await info.getByText(/Safety number changed/).count()).toBe(0);
    await alice.keyboard.press('Escape');

    // bob reinstalls with his device key and writes to alice: his identity key is new.
    await bob.close();
    const old = await Vault.unlock(bobDir, PASSWORD);
    const seed = old.getAccountSecret(PERMANENT_KEY_SECRET)!;
    old.lock();
    const bob2 = await inProcess(path.join(scene.tmp, 'bob2'), 'bob', seed);
    const toAlice = await bob2.contactAdd({ handle: 'alice' });
    await bob2.sendText({ conversationId: toAlice.conversationId, text: 'new phone' });

    // The 1:1 chat with bob: the identity-change banner (sending held) with its Review button.
    await alice.getByRole('button', { name: /^bob/ }).click();
    const banner = alice.getByRole('alert').filter({ hasText: "bob's safety number has changed" });
    await banner.waitFor({ timeout: T });
    await banner.getByRole('button', { name: 'Review safety number' }).waitFor();
    await check(alice, 'chat-identity-changed');

    await alice.getByRole('button', { name: `${NAME}, group of 2` }).click();
    await alice.getByRole('button', { name: 'Group info' }).click();
    info = alice.getByRole('dialog', { name: `Group info: ${NAME}` });
    const bobRow = info.getByRole('listitem').filter({ hasText: '@bob' });
    await bobRow.getByText('Safety number changed: they get no new messages from you until you accept it.').waitFor({ timeout: T });
    const review = info.getByRole('button', { name: 'Review the safety number of bob' });
    await check(alice, 'group-info-key-changed');

    // By keyboard: the Review button opens bob's safety number; accept; Escape goes back.
    await review.focus();
    await alice.keyboard.press('Enter');
    const safety = alice.getByRole('dialog', { name: 'Safety number with bob' });
    await safety.getByRole('button', { name: 'Accept new safety number' }).waitFor({ timeout: T });
    await check(alice, 'group-key-changed-safety-number');
    await safety.getByRole('button', { name: 'Accept new safety number' }).click();
    // (The status said "not verified" before the click too: only the button's going shows the accept landed.)
    await expect.poll(() => safety.getByRole('button', { name: 'Accept new safety number' }).count(), { timeout: T }).toBe(0);
    // Accepting a changed number is not verifying it.
    expect(await safety.getByText('Status: not verified').count()).toBe(1);
    await alice.keyboard.press('Escape');
    info = alice.getByRole('dialog', { name: `Group info: ${NAME}` });
    await info.waitFor();
    await expect.poll(() => info.getByText(/Safety number changed/).count(), { timeout: T }).toBe(0);
    await check(alice, 'group-info-key-accepted');
  });
});
