// The Electron shell's badge and notifications, through startApp with the fake Electron module:
// the badge is the unread total (0 when locked); a message while the window is not in front
// notifies as the privacy setting says, never more than "New message" while locked; a click
// focuses the window and tells the page to open that chat; lock closes what is on screen.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ApiError, methodNames, type ApiEvent, type ConversationSummary, type EphemeraService, type Message, type Settings } from '../../shared/api.ts';

const fake = await vi.hoisted(async () => {
  const { createFakeElectron } = await import('./fake-electron.ts');
  return createFakeElectron();
});
vi.mock('electron', () => ({ ...fake.electron, default: fake.electron }));

const { startApp } = await import('../../main/app/app.ts');
const { EVENT_CHANNEL, APP_ENTRY_URL } = await import('../../main/app/channels.ts');

const listeners = new Set<(e: ApiEvent) => void>();
const emit = (e: ApiEvent) => listeners.forEach((l) => l(e));
let settings: Settings = { relayUrl: null, autoLockMinutes: 0, theme: 'system', notifications: 'sender', keepImageMetadata: false };
const conv = (id: string, title: string, unread: number): ConversationSummary => ({
  id,
  contactId: `k${id}`,
  title,
  lastActivity: 1,
  unread,
  lastMessage: null,
  verified: false,
  identityChanged: false,
});
let conversations = [conv('c1', 'Ally Cat', 2), conv('c2', 'carol', 1)];
const message = (conversationId: string, text: string): Message => ({
  id: `m${text.length}`,
  conversationId,
  orderKey: 1,
  direction: 'in',
  sender: 'k1',
  sentAt: 1,
  receivedAt: 1,
  text,
  state: 'received',
});

function testService(): EphemeraService {
  const base: Record<string, unknown> = {};
  for (const m of methodNames) base[m] = () => Promise.reject(new ApiError('NOT_AVAILABLE', `${m} not in this test`));
  return Object.assign(base, {
    vaultStatus: async () => ({ vault: 'locked', recoveryConfirmed: true, account: null }),
    settingsGet: async () => settings,
    conversationsList: async () => conversations,
    subscribe: (l: (e: ApiEvent) => void) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
  }) as unknown as EphemeraService;
}

const unlocked = { name: 'vault', payload: { vault: 'unlocked', recoveryConfirmed: true, account: { handle: 'bob', relayUrl: 'wss://r' } } } as const;
const locked = { name: 'vault', payload: { vault: 'locked', recoveryConfirmed: true, account: null } } as const;
const tick = () => new Promise((r) => setTimeout(r, 0));
let tmp: string;
let window: InstanceType<typeof fake.FakeBrowserWindow>;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ephemera-attention-'));
  fs.writeFileSync(path.join(tmp, 'index.html'), '<!doctype html><title>Ephemera</title>');
  const running = await startApp({ openService: async () => ({ service: testService(), close: async () => undefined }), rendererDir: tmp, preloadPath: path.join(tmp, 'p.cjs') });
  window = running!.window as unknown as typeof window;
  window.webContents.mainFrame.url = APP_ENTRY_URL;
});

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('Electron badge and notifications', () => {
  it('badge: the unread total while unlocked, updated by conversation events, 0 when locked', async () => {
    emit(unlocked);
    await vi.waitFor(() => expect(fake.state.badgeCounts.at(-1)).toBe(3));
    emit({ name: 'conversation', payload: conv('c2', 'carol', 4) });
    expect(fake.state.badgeCounts.at(-1)).toBe(6);
    emit(locked);
    expect(fake.state.badgeCounts.at(-1)).toBe(0);
  });

  it('notifies only when the window is not in front, as the privacy setting says; a click opens the chat', async () => {
    conversations = [conv('c1', 'Ally Cat', 0)];
    emit(unlocked);
    await tick();
    fake.state.focused = true;
    emit({ name: 'message', payload: message('c1', 'while focused') });
    await tick();
    expect(fake.state.notifications).toHaveLength(0);

    fake.state.focused = false;
    emit({ name: 'message', payload: message('c1', 'secret text') });
    await vi.waitFor(() => expect(fake.state.notifications).toHaveLength(1));
    expect(fake.state.notifications[0]!.options).toEqual({ title: 'Ally Cat', body: 'New message' });
    expect(fake.state.notifications[0]!.shown).toBe(true);

    settings = { ...settings, notifications: 'full' };
    emit({ name: 'settings', payload: settings });
    emit({ name: 'message', payload: message('c1', 'now with text') });
    await vi.waitFor(() => expect(fake.state.notifications).toHaveLength(2));
    expect(fake.state.notifications[1]!.options).toEqual({ title: 'Ally Cat', body: 'now with text' });

    // Outgoing messages never notify.
    emit({ name: 'message', payload: { ...message('c1', 'mine'), direction: 'out', sender: 'self', state: 'sent' } });
    await tick();
    expect(fake.state.notifications).toHaveLength(2);
    // Nor a timer change, nor a received message announced again when its countdown starts (it was shown).
    emit({ name: 'message', payload: { ...message('c1', ''), timerChange: { seconds: 3600 } } });
    emit({ name: 'message', payload: { ...message('c1', 'seen already'), timerSeconds: 30, expiresAt: 31_000 } });
    await tick();
    expect(fake.state.notifications).toHaveLength(2);

    // Click: the window comes forward and the page is told which chat to open.
    window.webContents.sent.length = 0;
    fake.state.notifications[1]!.emit('click');
    expect(fake.state.focused).toBe(true);
    expect(window.webContents.sent).toContainEqual([EVENT_CHANNEL, 'openConversation', { conversationId: 'c1' }]);

    settings = { ...settings, notifications: 'none' };
    emit({ name: 'settings', payload: settings });
    fake.state.focused = false;
    emit({ name: 'message', payload: message('c1', 'not shown') });
    await tick();
    expect(fake.state.notifications).toHaveLength(2);
  });

  it('a notification closes when its message is deleted (for me, for everyone, the whole chat) or expires', async () => {
    settings = { ...settings, notifications: 'full' };
    emit({ name: 'settings', payload: settings });
    emit(unlocked);
    await tick();
    fake.state.focused = false;
    const before = fake.state.notifications.length;
    const arrive = (id: string, conversationId: string): void => emit({ name: 'message', payload: { ...message(conversationId, `text of ${id}`), id } });
    for (const [id, c] of [['x1', 'c1'], ['x2', 'c1'], ['x3', 'c1'], ['x4', 'c2'], ['x5', 'c2']] as const) arrive(id, c);
    await vi.waitFor(() => expect(fake.state.notifications).toHaveLength(before + 5));
    const [n1, n2, n3, n4, n5] = fake.state.notifications.slice(before);
    // Deleted for me, or expired (the same event): only that one closes.
    emit({ name: 'messagesDeleted', payload: { conversationId: 'c1', messageIds: ['x1'], all: false } });
    expect([n1!.closed, n2!.closed, n3!.closed, n4!.closed, n5!.closed]).toEqual([true, false, false, false, false]);
    emit({ name: 'deletedForEveryone', payload: { conversationId: 'c1', messages: [{ ...message('c1', ''), id: 'x2', deleted: true }] } });
    expect([n2!.closed, n3!.closed]).toEqual([true, false]);
    emit({ name: 'messagesDeleted', payload: { conversationId: 'c2', messageIds: [], all: true } });
    expect([n3!.closed, n4!.closed, n5!.closed]).toEqual([false, true, true]);
  });

  it('while locked says only "New message"; lock closes the notifications on screen', async () => {
    settings = { ...settings, notifications: 'full' };
    emit({ name: 'settings', payload: settings });
    const before = fake.state.notifications.length;
    emit(locked);
    expect(fake.state.notifications.every((n) => n.closed)).toBe(true);
    emit({ name: 'message', payload: message('c1', 'arrives while locked') });
    await vi.waitFor(() => expect(fake.state.notifications).toHaveLength(before + 1));
    expect(fake.state.notifications.at(-1)!.options).toEqual({ title: 'New message', body: '' });
  });
});
