// The 1:1 chat's window in the real UI (Chromium, browser mode, real relay): a search hit far back
// in a long conversation opens in context (the chat then ends before the newest messages), and a
// text sent from there takes the chat to the newest messages, where the sent text is shown and on
// screen (before, it was stored and sent but not shown until the user scrolled all the way down).
// bob runs in this process (a real messenger on a real vault) so the test can write 200 texts
// quickly; alice is a web host child. Screenshots light and dark; every control named; axe clean;
// no console error.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { openMessenger, type Messenger } from '../../main/messenger.ts';
import { TEST_KDF } from '../../main/vault/index.ts';
import { addContact, browserScene, expectAccessible, expectAllNamed, onboard, PASSWORD, send, shotBothThemes } from './browser-harness.ts';

const scene = browserScene('chat-window', 'chat-window');
const T = 60_000;
const LATER = 200;
let alice: Page;
let bob: Messenger | undefined;

async function check(page: Page, name: string): Promise<void> {
  await shotBothThemes(page, scene.shotsDir, name);
  await expectAllNamed(page, name);
  await expectAccessible(page, name);
}

/** Whether `locator`'s element is inside the viewport (scrolled to, not just in the DOM). */
async function onScreen(page: Page, locator: ReturnType<Page['locator']>): Promise<boolean> {
  const box = await locator.boundingBox();
  return box !== null && box.y >= 0 && box.y + box.height <= page.viewportSize()!.height;
}

describe('the 1:1 chat window in Chromium', () => {
  beforeAll(async () => {
    const relay = await scene.startRelay();
    const url = await scene.startWeb('alice', relay.descriptor);
    bob = await openMessenger({ profileDir: path.join(scene.tmp, 'bob'), kdf: TEST_KDF });
    await bob.createVault({ password: PASSWORD });
    await bob.register({ handle: 'bob', serverDescriptor: readFileSync(relay.descriptor, 'utf8') });
    await scene.launch();
    alice = (await scene.newPage()).page;
    await onboard(alice, url, 'alice');
  });

  afterEach(() => {
    expect(scene.problems.splice(0)).toEqual([]);
  });

  afterAll(async () => {
    await bob?.close().catch(() => undefined);
    await scene.close();
  });

  it('a text sent from a search hit far back takes the chat to the newest messages, the text on screen', async () => {
    await addContact(alice, 'bob');
    await send(alice, 'bob', 'hello bob');
    await expect.poll(async () => (await bob!.sync({ timeoutMs: T })).done, { timeout: T }).toBe(true);
    const atBob = (await bob!.conversationsList({}))[0]!;
    await bob!.sendText({ conversationId: atBob.id, text: 'the needle, far back' });
    for (let i = 0; i < LATER; i++) await bob!.sendText({ conversationId: atBob.id, text: `later ${i}` });

    const log = alice.getByRole('log', { name: 'Messages with bob' });
    const newestText = log.getByText(`later ${LATER - 1}`, { exact: true });
    // All stored at alice's: the chat list's line shows the newest. (Not the log: it is virtualized,
    // and whether an open chat follows a burst of 200 live texts to its end is not this test's subject.)
    await alice.locator('.chat-item', { hasText: `later ${LATER - 1}` }).waitFor({ timeout: 3 * T });

    // Ctrl+K finds the early text; its hit opens the chat around it, without the newest texts.
    await alice.keyboard.press('Control+k');
    const search = alice.getByRole('dialog', { name: 'Search messages' });
    await search.getByLabel('Search for').fill('needle');
    const hit = search.getByRole('list', { name: 'Search results' }).getByRole('button');
    await expect.poll(() => hit.allTextContents(), { timeout: T }).toEqual([expect.stringMatching(/the needle, far back$/)]);
    await hit.click();
    const focused = log.locator('.bubble.focused', { hasText: 'the needle, far back' });
    await focused.waitFor({ timeout: T });
    await expect.poll(() => newestText.count(), { timeout: T }).toBe(0);
    await check(alice, 'chat-search-hit-far-back');

    // Sent from there: the chat shows the newest texts and, last and on screen, the one just sent.
    const composer = alice.getByLabel('Message to bob');
    const TEXT = 'sent while reading far back';
    await composer.fill(TEXT);
    await composer.press('Enter');
    const sent = log.getByText(TEXT, { exact: true });
    await sent.waitFor({ timeout: T });
    await newestText.waitFor({ timeout: T });
    await expect.poll(() => onScreen(alice, sent), { timeout: T }).toBe(true);
    expect(await log.getByText('the needle, far back').count()).toBe(0);
    expect(await composer.inputValue()).toBe('');
    await check(alice, 'chat-sent-from-far-back');
    // bob gets it once.
    await expect.poll(async () => {
      await bob!.sync({ timeoutMs: T });
      const page = await bob!.historyPage({ conversationId: atBob.id, anchor: { kind: 'newest' }, limit: 5 });
      return page.messages.filter((m) => m.text === TEXT).length;
    }, { timeout: T }).toBe(1);
  }, 600_000);
});
