// The CLI reaches the messenger through the contract (cli/client.ts): the same bad input gets the
// same error code and sentence from `ephemera` (a real child process) as from dispatchCall, the
// serving side of the app's IPC and the browser host's WebSocket.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMessenger } from '../../main/messenger.ts';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import { MAX_TEXT_CHARS, type ApiErrorValue, type MethodName } from '../../shared/api.ts';
import { dispatchCall } from '../../shared/api/rpc.ts';
import { API_EXIT } from '../../cli/errors.ts';
import { runCli } from './run.ts';

const PASSWORD = 'contract cli password 123';
const T0 = Date.UTC(2026, 0, 5, 12);
// The messenger's id forms (main/messenger/ids.ts): a direct conversation's id follows its contact's.
const BOB = `c${'b0'.repeat(12)}`;
const CONV = `d${'b0'.repeat(12)}`;
let root: string;
let profile: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'ephemera-cli-contract-'));
  profile = join(root, 'profile');
  const { vault } = await Vault.create(profile, PASSWORD, { kdf: TEST_KDF });
  vault.upsertContact({ id: BOB, handle: 'bob', displayName: 'bob', identityChanged: false, createdAt: T0 });
  vault.upsertConversation({ id: CONV, kind: 'direct', contactId: BOB, title: 'bob', lastActivity: T0, unread: 0 });
  vault.lock();
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** What dispatchCall answers for one call on this profile (unlocked, as the CLI does). */
async function viaDispatch(method: MethodName, params: unknown): Promise<ApiErrorValue> {
  const m = await openMessenger({ profileDir: profile });
  try {
    await m.unlock({ password: PASSWORD });
    const outcome = await dispatchCall(m, method, params);
    if (outcome.ok) throw new Error(`${method} unexpectedly succeeded`);
    return outcome.error;
  } finally {
    await m.close();
  }
}

/** What `ephemera --json ARGS` reports: its exit code and its { code, message }. */
async function viaCli(args: string[]): Promise<{ exit: number | null; error: ApiErrorValue; stderr: string }> {
  const r = await runCli(['--profile', profile, '--json', ...args], { EPHEMERA_PASSWORD: PASSWORD });
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
});
