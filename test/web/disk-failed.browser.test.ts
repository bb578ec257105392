// A vault write that failed (a WAL fsync with EIO: durability lost until the lock, 8962b67) in the
// real UI (Chromium, browser mode, real relay): the indicator says "Could not write to disk", not
// "Offline / the relay cannot be reached", and what to do is one Tab and Enter away. The web host
// and messenger run in this process so the fsync can fail at node:fs/promises (no disk here gives
// EIO on demand); everything else is real. Screenshots light and dark; axe clean; no console error.
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { walSyncs } from '../messaging/wal-sync-faults.ts';
import type { Page } from 'playwright-core';
import { runWeb } from '../../cli/ephemera-web.ts';
import type { Messenger } from '../../main/messenger.ts';
import { addContact, browserScene, connectionLabel, expectAccessible, expectAllNamed, onboard, openRegisteredMessenger, PASSWORD, send, shotBothThemes } from './browser-harness.ts';

// Only alice's -wal: bob's vault is in this process too, and its acks fsync on the pool as well.
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual: typeof import('node:fs/promises') = await importOriginal();
  const faulty = (await import('../messaging/wal-sync-faults.ts')).withWalSyncFaults(actual);
  const { sep } = await import('node:path');
  const alicesWal = `${sep}alice${sep}vault.db-wal`;
  const open: typeof actual.open = (file, ...rest) => (typeof file === 'string' && file.endsWith(alicesWal) ? faulty.open(file, ...rest) : actual.open(file, ...rest));
  return { ...actual, open, default: { ...actual, open } };
});

const scene = browserScene('disk-failed', 'disk-failed');
const T = 60_000;
let alice: Page;
let bob: Messenger | undefined;
let web: { url: string; stop(): Promise<void> } | undefined;

describe('A failed disk write in Chromium', () => {
  beforeAll(async () => {
    const relay = await scene.startRelay();
    web = await runWeb({ profile: path.join(scene.tmp, 'alice'), port: 0, server: relay.descriptor });
    bob = await openRegisteredMessenger(scene, 'bob', relay.descriptor);
    await scene.launch();
    alice = (await scene.newPage()).page;
    await onboard(alice, web.url, 'alice');
  });

  afterEach(() => {
    walSyncs.failNext = false;
    expect(scene.problems.splice(0)).toEqual([]);
  });

  afterAll(async () => {
    await bob?.close().catch(() => undefined);
    await web?.stop().catch(() => undefined);
    await scene.close();
  });

  it('names the disk, says what to do by keyboard, and is Ready again after lock and unlock', async () => {
    await addContact(alice, 'bob');
    await send(alice, 'bob', 'hello bob');
    walSyncs.failNext = true;
    await send(alice, 'bob', 'its fsync failed');
    await expect.poll(() => walSyncs.failed, { timeout: T }).toBe(1);
    await expect.poll(() => connectionLabel(alice), { timeout: T }).toBe('Could not write to disk');
    expect(await alice.getByRole('alert').filter({ hasText: 'Could not write to disk' }).count()).toBe(1);
    const advice = alice.getByRole('note').filter({ hasText: 'Ephemera could not write to disk.' });
    expect(await advice.isVisible()).toBe(false);

    // By keyboard from the top of the page: Tab until the disclosure has focus, then Enter.
    await alice.evaluate('document.activeElement?.blur()');
    const summary = alice.locator('.connection-details summary');
    const focused = () => summary.evaluate((el) => el === (el.ownerDocument as unknown as { activeElement: unknown }).activeElement);
    for (let tabs = 0; tabs < 30 && !(await focused()); tabs++) await alice.keyboard.press('Tab');
    expect(await focused()).toBe(true);
    await alice.keyboard.press('Enter');
    await advice.waitFor({ state: 'visible' });
    expect(await advice.textContent()).toContain('Free space or check the drive, then lock and unlock to retry. Nothing was sent or acknowledged since.');
    await shotBothThemes(alice, scene.shotsDir, 'disk-write-failed');
    await expectAllNamed(alice, 'disk-write-failed');
    await expectAccessible(alice, 'disk-write-failed');

    // Lock and unlock (the advice): the connection is back and the held text goes.
    await alice.keyboard.press('Control+Shift+L');
    await alice.getByRole('heading', { name: 'Unlock Ephemera' }).waitFor({ timeout: T });
    await alice.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await alice.getByRole('button', { name: 'Unlock' }).click();
    await expect.poll(() => connectionLabel(alice), { timeout: T }).toBe('Ready');
    expect(await bob!.sync({ timeoutMs: T })).toEqual({ done: true });
    const atBob = (await bob!.conversationsList({}))[0]!;
    const texts = (await bob!.historyPage({ conversationId: atBob.id, anchor: { kind: 'newest' }, limit: 50 })).messages.map((m) => m.text);
    expect(texts).toEqual(['hello bob', 'its fsync failed']);
  }, 600_000);
});
