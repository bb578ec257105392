// Drafts never lost across a lock, in the real UI (Chromium, browser mode, real relay and vaults):
// (a) a group chat's composer text is sealed as its draft like a 1:1 chat's, and is back after
// lock and unlock; (b) a lock main starts itself (the idle timer, quit: here Messenger.lock() from
// the test) takes the text typed in the draft save's 400 ms pause: the page answers the 'locking'
// event with its composers' text (lockDrafts) and main waits for it before it drops the key.
// The page's clock is paused so the save after the typing pause never comes by itself. Alice's
// messenger and web host run in this process so the test can start a lock in main.
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { openMessenger, type Messenger } from '../../main/messenger.ts';
import { TEST_KDF } from '../../main/vault/index.ts';
import { startWebHost, type WebHost } from '../../main/web/host.ts';
import { RENDERER_DIST } from '../../main/web/static.ts';
import { addContact, browserScene, expectAccessible, onboard, openRegisteredMessenger, PASSWORD, ROOT, send } from './browser-harness.ts';

const scene = browserScene('lock-drafts', 'lock-drafts');
const T = 60_000;
const GROUP = 'Drafts kept';
let alice: Page;
let aliceM: Messenger | undefined;
let bob: Messenger | undefined;
let host: WebHost | undefined;

async function unlock(page: Page): Promise<void> {
  await page.getByRole('heading', { name: 'Unlock Ephemera' }).waitFor({ timeout: T });
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Unlock' }).click();
  await page.getByRole('button', { name: 'New contact' }).waitFor({ timeout: T });
}

describe('Drafts across a lock in Chromium', () => {
  beforeAll(async () => {
    const relay = await scene.startRelay();
    aliceM = await openMessenger({ profileDir: path.join(scene.tmp, 'alice'), serverDescriptorPath: relay.descriptor, kdf: TEST_KDF });
    host = await startWebHost({ service: aliceM, rendererDir: path.join(ROOT, RENDERER_DIST), port: 0, backupDir: path.join(scene.tmp, 'backups') });
    bob = await openRegisteredMessenger(scene, 'bob', relay.descriptor);
    await scene.launch();
    alice = (await scene.newPage()).page;
    await alice.clock.install();
    await onboard(alice, host.url, 'alice');
  });

  afterEach(() => {
    expect(scene.problems.splice(0)).toEqual([]);
  });

  afterAll(async () => {
    await bob?.close().catch(() => undefined);
    await host?.close().catch(() => undefined);
    await aliceM?.close().catch(() => undefined);
    await scene.close();
  });

  const openGroup = async (): Promise<void> => {
    await alice.getByRole('button', { name: `${GROUP}, group of 2` }).click({ timeout: T });
    await alice.getByRole('heading', { name: `${GROUP} 2 members`, level: 2 }).waitFor({ timeout: T });
  };
  const groupConversationId = async (): Promise<string> => (await aliceM!.groupsList()).find((g) => g.name === GROUP)!.conversationId;

  it('a group chat keeps its text as a sealed draft across lock and unlock', async () => {
    await addContact(alice, 'bob');
    await send(alice, 'bob', 'hello bob');
    await aliceM!.groupCreate({ name: GROUP, members: ['bob'] });
    await openGroup();
    const composer = alice.getByLabel(`Message to ${GROUP}`);
    const TEXT = 'group text kept across the lock';
    await composer.fill(TEXT);
    // Sealed after the typing pause, in main, under the group's conversation id.
    await alice.clock.runFor(1_000);
    const conversationId = await groupConversationId();
    await expect.poll(async () => (await aliceM!.getDraft({ conversationId })).text, { timeout: T }).toBe(TEXT);
    await alice.getByRole('button', { name: 'Lock' }).click();
    await unlock(alice);
    await openGroup();
    await expect.poll(() => composer.inputValue(), { timeout: T }).toBe(TEXT);
    await expectAccessible(alice, 'group draft restored');
  }, 600_000);

  it('a lock main starts itself takes the text typed in the save pause (1:1 and group)', async () => {
    // The page's clock stands still: the save after the typing pause never comes by itself.
    await alice.clock.pauseAt((await alice.evaluate(() => Date.now())) + 1_000);
    const groupComposer = alice.getByLabel(`Message to ${GROUP}`);
    await groupComposer.fill('group text typed just before an idle lock');
    await alice.getByRole('button', { name: /^bob/ }).first().click();
    await alice.getByRole('heading', { name: 'bob', level: 2 }).waitFor({ timeout: T });
    const bobComposer = alice.getByLabel('Message to bob');
    await bobComposer.fill('typed just before an idle lock');
    const toBob = (await aliceM!.conversationsList({})).find((c) => c.title === 'bob')?.id;
    expect(await aliceM!.getDraft({ conversationId: toBob! })).toEqual({ text: '' });

    // As the idle timer or quit would: main locks, no call of the page comes first.
    await aliceM!.lock();
    expect(await aliceM!.vaultStatus()).toMatchObject({ vault: 'locked' });
    await alice.clock.resume();
    await unlock(alice);
    await alice.getByRole('button', { name: /^bob/ }).first().click();
    await expect.poll(() => bobComposer.inputValue(), { timeout: T }).toBe('typed just before an idle lock');
    await openGroup();
    await expect.poll(() => groupComposer.inputValue(), { timeout: T }).toBe('group text typed just before an idle lock');
  }, 600_000);

  it('a composer emptied by hand just before such a lock stays empty (its sealed draft goes)', async () => {
    const bobComposer = alice.getByLabel('Message to bob');
    await alice.getByRole('button', { name: /^bob/ }).first().click();
    await expect.poll(() => bobComposer.inputValue(), { timeout: T }).toBe('typed just before an idle lock');
    const toBob = (await aliceM!.conversationsList({})).find((c) => c.title === 'bob')!.id;
    await expect.poll(async () => (await aliceM!.getDraft({ conversationId: toBob })).text, { timeout: T }).toBe('typed just before an idle lock');
    await alice.clock.pauseAt((await alice.evaluate(() => Date.now())) + 1_000);
    await bobComposer.fill('');
    await aliceM!.lock();
    await alice.clock.resume();
    await unlock(alice);
    expect(await aliceM!.getDraft({ conversationId: toBob })).toEqual({ text: '' });
    await alice.getByRole('button', { name: /^bob/ }).first().click();
    await alice.getByRole('heading', { name: 'bob', level: 2 }).waitFor({ timeout: T });
    expect(await bobComposer.inputValue()).toBe('');
  }, 600_000);

  it('a text sent while the chat\'s sealed draft is still loading is not followed by that draft', async () => {
    // A sealed draft for bob's chat, then a lock: the page forgets it and asks main when the chat opens.
    const bobComposer = alice.getByLabel('Message to bob');
    await bobComposer.fill('an older draft');
    await alice.clock.runFor(1_000);
    const toBob = (await aliceM!.conversationsList({})).find((c) => c.title === 'bob')!.id;
    await expect.poll(async () => (await aliceM!.getDraft({ conversationId: toBob })).text, { timeout: T }).toBe('an older draft');
    await alice.getByRole('button', { name: 'Lock' }).click();
    await unlock(alice);
    // The page's getDraft and setDraft calls are held until the test lets them go, in their order:
    // the chat opens and a text is typed and sent before the draft's answer comes (a slow machine).
    await alice.evaluate(() => {
      const page = globalThis as unknown as { __held?: (() => void)[]; __release?: () => void };
      const proto = WebSocket.prototype;
      const original = proto.send;
      const held: (() => void)[] = [];
      page.__held = held;
      proto.send = function (this: WebSocket, data: string | ArrayBufferLike | Blob | ArrayBufferView) {
        if (typeof data === 'string' && /"method":"(getDraft|setDraft)"/.test(data)) held.push(() => original.call(this, data));
        else original.call(this, data);
      };
      page.__release = () => {
        proto.send = original;
        for (const go of held.splice(0)) go();
      };
    });
    await alice.getByRole('button', { name: /^bob/ }).first().click();
    await alice.getByRole('heading', { name: 'bob', level: 2 }).waitFor({ timeout: T });
    await expect.poll(() => alice.evaluate(() => (globalThis as unknown as { __held: unknown[] }).__held.length > 0), { timeout: T }).toBe(true);
    await bobComposer.fill('sent before the draft came');
    await bobComposer.press('Enter');
    await alice.getByRole('log').getByText('sent before the draft came').waitFor({ timeout: T });
    await expect.poll(() => bobComposer.inputValue()).toBe('');
    await alice.evaluate(() => (globalThis as unknown as { __release: () => void }).__release());
    // The safety number is asked for after the held calls, on the same socket: once it shows, the
    // draft's answer has been handled. The sent text's composer stays empty (it showed the older
    // draft again), and the send emptied the sealed draft too.
    await alice.getByRole('button', { name: 'Safety number' }).click();
    await alice.locator('.safety-number').waitFor({ timeout: T });
    await alice.keyboard.press('Escape');
    expect(await bobComposer.inputValue()).toBe('');
    await expect.poll(async () => (await aliceM!.getDraft({ conversationId: toBob })).text, { timeout: T }).toBe('');
  }, 600_000);
});
