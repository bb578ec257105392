// The CLI reaches the messenger through the contract (cli/client.ts): the same bad input gets the
// same error code and sentence from `ephemera` (a real child process) as from dispatchCall, the
// serving side of the app's IPC and the browser host's WebSocket.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMessenger } from '../../main/messenger.ts';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import { MAX_TEXT_CHARS, type ApiErrorValue, type MethodName, type SearchResult } from '../../shared/api.ts';
import { dispatchCall, type CallOutcome } from '../../shared/api/rpc.ts';
import { API_EXIT } from '../../cli/errors.ts';
import { runCli } from './run.ts';

const PASSWORD = 'contract cli password 123';
const T0 = Date.UTC(2026, 0, 5, 12);
// The messenger's id forms (main/messenger/ids.ts): a direct conversation's id follows its contact's.
const BOB = `c${'b0'.repeat(12)}`;
const CONV = `d${'b0'.repeat(12)}`;
const CAROL = `c${'c0'.repeat(12)}`;
const CAROL_CONV = `d${'c0'.repeat(12)}`;
let root: string;
let profile: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'ephemera-cli-contract-'));
  profile = join(root, 'profile');
  const { vault } = await Vault.create(profile, PASSWORD, { kdf: TEST_KDF });
  vault.upsertContact({ id: BOB, handle: 'bob', displayName: 'bob', identityChanged: false, createdAt: T0 });
  vault.upsertConversation({ id: CONV, kind: 'direct', contactId: BOB, title: 'bob', lastActivity: T0, unread: 0 });
  // What the search tests find (bob's chat stays empty for the history test).
  vault.upsertContact({ id: CAROL, handle: 'carol', displayName: 'carol', identityChanged: false, createdAt: T0 });
  vault.upsertConversation({ id: CAROL_CONV, kind: 'direct', contactId: CAROL, title: 'Carol', lastActivity: T0, unread: 0 });
  vault.appendMessages([
    { id: 'm-plums-1', conversationId: CAROL_CONV, direction: 'in', sender: CAROL, sentAt: T0 + 1000, text: 'ripe plums at the market', state: 'received' },
    { id: 'm-plums-2', conversationId: CAROL_CONV, direction: 'out', sender: 'self', sentAt: T0 + 2000, text: 'plums plums plums for jam', state: 'sent' },
    { id: 'm-other', conversationId: CAROL_CONV, direction: 'in', sender: CAROL, sentAt: T0 + 3000, text: 'nothing to see', state: 'received' },
  ]);
  vault.lock();
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/**
 * What dispatchCall answers for one call on a messenger of `dir` (this profile unless given),
 * unlocked first unless `locked` (the CLI's one-shot commands call on a locked one).
 */
async function dispatched(method: MethodName, params: unknown, opts: { dir?: string; locked?: boolean; allowWeakSecrets?: boolean } = {}): Promise<CallOutcome> {
  const m = await openMessenger({ profileDir: opts.dir ?? profile, kdf: TEST_KDF, ...(opts.allowWeakSecrets === true ? { allowWeakSecrets: true } : {}) });
  try {
    if (opts.locked !== true) await m.unlock({ password: PASSWORD });
    return await dispatchCall(m, method, params);
  } finally {
    await m.close();
  }
}

function refusal(method: MethodName, outcome: CallOutcome): ApiErrorValue {
  if (outcome.ok) throw new Error(`${method} unexpectedly succeeded`);
  return outcome.error;
}

/** The refusal dispatchCall gives on this profile, unlocked (as the CLI's messaging commands). */
async function viaDispatch(method: MethodName, params: unknown): Promise<ApiErrorValue> {
  return refusal(method, await dispatched(method, params));
}

/** The refusal on a messenger of `dir` that was not unlocked (as the CLI's one-shot commands). */
async function viaDispatchLocked(dir: string, method: MethodName, params: unknown, opts: { allowWeakSecrets?: boolean } = {}): Promise<ApiErrorValue> {
  return refusal(method, await dispatched(method, params, { ...opts, dir, locked: true }));
}

/** The answer of a call that succeeds on this profile (unlocked). */
async function viaDispatchOk(method: MethodName, params: unknown): Promise<unknown> {
  const outcome = await dispatched(method, params);
  if (!outcome.ok) throw new Error(`${method} failed: ${outcome.error.code} ${outcome.error.message}`);
  return outcome.value;
}

/** What `ephemera --json ARGS` reports: its exit code and its { code, message }. */
async function viaCli(args: string[], env: Record<string, string> = { EPHEMERA_PASSWORD: PASSWORD }, dir = profile, stdin = ''): Promise<{ exit: number | null; error: ApiErrorValue; stderr: string }> {
  const r = await runCli(['--profile', dir, '--json', ...args], env, stdin);
  const out = JSON.parse(r.stdout.trim()) as { ok: boolean; code: ApiErrorValue['code']; message: string };
  expect(out.ok, r.stderr).toBe(false);
  return { exit: r.code, error: { code: out.code, message: out.message }, stderr: r.stderr };
}

describe('the CLI goes through the contract', () => {
  it('an over-long text: the same INVALID_ARGUMENT and sentence as dispatchCall, and nothing is stored', async () => {
    const text = 'x'.repeat(MAX_TEXT_CHARS + 1);
    const served = await viaDispatch('sendText', { conversationId: CONV, text });
    expect(served.code).toBe('INVALID_ARGUMENT');
    expect(served.message).toContain('text');
    const cli = await viaCli(['send', 'bob', text]);
    expect(cli.error).toEqual(served);
    expect(cli.exit).toBe(API_EXIT.INVALID_ARGUMENT);
    expect(cli.stderr).toBe(`ephemera: ${served.message}\n`);
    const history = await runCli(['--profile', profile, '--json', 'history', 'bob'], { EPHEMERA_PASSWORD: PASSWORD });
    expect(JSON.parse(history.stdout.trim())).toMatchObject({ ok: true, messages: [] });
  });

  it('a malformed message id: the same INVALID_ARGUMENT for delete and history --around', async () => {
    const bad = 'no such/id';
    const served = await viaDispatch('deleteMessage', { conversationId: CONV, messageId: bad });
    expect(served.code).toBe('INVALID_ARGUMENT');
    expect((await viaCli(['delete', 'bob', bad])).error).toEqual(served);
    const around = await viaDispatch('historyPage', { conversationId: CONV, anchor: { kind: 'around', messageId: bad }, limit: 50 });
    expect(around.code).toBe('INVALID_ARGUMENT');
    expect((await viaCli(['history', 'bob', '--around', bad])).error).toEqual(around);
  });

  it("the messenger's own refusal (a well-formed id it does not have): the same code and sentence", async () => {
    const served = await viaDispatch('deleteMessage', { conversationId: CONV, messageId: 'm-unknown' });
    expect(served.code).toBe('UNKNOWN_MESSAGE');
    const cli = await viaCli(['delete', 'bob', 'm-unknown']);
    expect(cli.error).toEqual(served);
    expect(cli.exit).toBe(API_EXIT.UNKNOWN_MESSAGE);
  });

  it('sync before registration: NOT_REGISTERED from the contract method, the same through the CLI', async () => {
    const served = await viaDispatch('sync', { timeoutMs: 1000 });
    expect(served.code).toBe('NOT_REGISTERED');
    const cli = await viaCli(['sync', '--wait', '1']);
    expect(cli.error).toEqual(served);
    expect(cli.exit).toBe(API_EXIT.NOT_REGISTERED);
    // The contract bounds the wait: an hour at most, a whole number of milliseconds.
    expect((await viaDispatch('sync', { timeoutMs: 3_600_001 })).code).toBe('INVALID_ARGUMENT');
    expect((await viaDispatch('sync', { timeoutMs: 1.5 })).code).toBe('INVALID_ARGUMENT');
  });

  it('init with a weak password: the WEAK_PASSWORD and reason createVault gives; no vault is made', async () => {
    const dir = join(root, 'weak-init');
    const served = await viaDispatchLocked(dir, 'createVault', { password: 'abc' });
    expect(served.code).toBe('WEAK_PASSWORD');
    const cli = await viaCli(['init'], { EPHEMERA_PASSWORD: 'abc' }, dir);
    expect(cli.error).toEqual(served);
    expect(cli.exit).toBe(API_EXIT.WEAK_PASSWORD);
    expect(Vault.exists(dir)).toBe(false);
  });

  it('change-password with a wrong current password, recover with a wrong phrase: the same codes and sentences', async () => {
    const wrongPassword = await viaDispatchLocked(profile, 'unlock', { password: 'not the password 123' });
    expect(wrongPassword.code).toBe('WRONG_PASSWORD');
    const cli = await viaCli(['change-password', '--allow-weak'], { EPHEMERA_PASSWORD: 'not the password 123', EPHEMERA_NEW_PASSWORD: 'next password 456' });
    expect(cli.error).toEqual(wrongPassword);
    expect(cli.exit).toBe(API_EXIT.WRONG_PASSWORD);
    const phrase = Array.from({ length: 24 }, () => 'abandon').join(' ');
    const wrongPhrase = await viaDispatchLocked(profile, 'unlockWithRecovery', { recoveryPhrase: phrase, newPassword: 'next password 456' }, { allowWeakSecrets: true });
    expect(wrongPhrase.code).toBe('WRONG_RECOVERY_PHRASE');
    const recover = await viaCli(['recover', '--allow-weak'], { EPHEMERA_NEW_PASSWORD: 'next password 456' }, profile, `${phrase}\n`);
    expect(recover.error).toEqual(wrongPhrase);
    expect(recover.exit).toBe(API_EXIT.WRONG_RECOVERY_PHRASE);
    // Nothing changed: the password still opens the vault.
    const m = await openMessenger({ profileDir: profile });
    await expect(m.unlock({ password: PASSWORD })).resolves.toMatchObject({ vault: 'unlocked' });
    await m.close();
  });

  it('wipe of a profile open elsewhere: PROFILE_LOCKED before the password is checked, the same through both', async () => {
    const open = await Vault.unlock(profile, PASSWORD);
    try {
      // A wrong password still gets PROFILE_LOCKED: the lock is checked first.
      const served = await viaDispatchLocked(profile, 'wipeProfile', { password: 'not the password 123' });
      expect(served.code).toBe('PROFILE_LOCKED');
      const cli = await viaCli(['wipe', '--yes'], { EPHEMERA_PASSWORD: 'not the password 123' });
      expect(cli.error).toEqual(served);
      expect(cli.exit).toBe(API_EXIT.PROFILE_LOCKED);
    } finally {
      open.lock();
    }
    expect(Vault.exists(profile)).toBe(true);
  });

  it('search: an over-long query and a date the contract refuses get the same INVALID_ARGUMENT and sentence', async () => {
    const long = 'plums '.repeat(100);
    const served = await viaDispatch('search', { query: long, order: 'newest', limit: 20 });
    expect(served.code).toBe('INVALID_ARGUMENT');
    const cli = await viaCli(['search', long]);
    expect(cli.error).toEqual(served);
    expect(cli.exit).toBe(API_EXIT.INVALID_ARGUMENT);
    // --from 1969-12-31 is a day before the epoch: the contract's timestamps are not negative.
    const early = await viaDispatch('search', { query: 'plums', order: 'newest', limit: 20, from: Date.UTC(1969, 11, 31) });
    expect(early.code).toBe('INVALID_ARGUMENT');
    expect((await viaCli(['search', 'plums', '--from', '1969-12-31'])).error).toEqual(early);
  });

  it('search: the CLI prints the contract\'s hits, with the sender, order key and score the contract now carries, up to 1000', async () => {
    const served = (await viaDispatchOk('search', { query: 'plums', order: 'relevance', limit: 1000 })) as SearchResult;
    expect(served.hits.map((h) => h.messageId).sort()).toEqual(['m-plums-1', 'm-plums-2']);
    const bySender = Object.fromEntries(served.hits.map((h) => [h.messageId, h.sender]));
    expect(bySender).toEqual({ 'm-plums-1': CAROL, 'm-plums-2': 'self' });
    for (const h of served.hits) {
      expect(typeof h.score).toBe('number');
      expect(Number.isInteger(h.orderKey)).toBe(true);
    }
    // Newest first carries no score.
    const newest = (await viaDispatchOk('search', { query: 'plums', order: 'newest', limit: 1 })) as SearchResult;
    expect(newest).toMatchObject({ truncated: true, hits: [{ messageId: 'm-plums-2' }] });
    expect(newest.hits[0]).not.toHaveProperty('score');

    const r = await runCli(['--profile', profile, '--json', 'search', 'plums', '--order', 'relevance', '--limit', '1000'], { EPHEMERA_PASSWORD: PASSWORD });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim()) as { results: { id: string; chat: string; sender: string; orderKey: number; score: number; snippet: { text: string; highlights: { start: number; end: number }[] } }[] };
    expect(out.results.map((x) => ({ id: x.id, sender: x.sender, orderKey: x.orderKey, score: x.score }))).toEqual(
      served.hits.map((h) => ({ id: h.messageId, sender: h.sender, orderKey: h.orderKey, score: h.score })),
    );
    expect(out.results.every((x) => x.chat === 'Carol')).toBe(true);
    const first = out.results.find((x) => x.id === 'm-plums-1');
    expect(first?.snippet.highlights.map((h) => first.snippet.text.slice(h.start, h.end))).toEqual(['plums']);
    // Over the contract's most: the CLI's own usage error, before any password is asked.
    const over = await runCli(['--profile', profile, 'search', 'plums', '--limit', '1001'], {});
    expect(over.code).toBe(2);
    expect(over.stderr).toContain('--limit must be a whole number from 1 to 1000');
  });
});
