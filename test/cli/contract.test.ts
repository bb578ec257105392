// The CLI reaches the messenger through the contract (cli/client.ts): the same bad input gets the
// same error code and sentence from `ephemera` (a real child process) as from dispatchCall, the
// serving side of the app's IPC and the browser host's WebSocket.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMessenger } from '../../main/messenger.ts';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import { MAX_BACKUP_WORK_FACTOR, MAX_TEXT_CHARS, MIN_BACKUP_WORK_FACTOR, type ApiErrorValue, type MethodName, type SearchResult, type VaultCheck } from '../../shared/api.ts';
import { DEFAULT_WORK_FACTOR, MAX_WORK_FACTOR } from '../../main/backup/index.ts';
import { damagedCopies } from '../vault/helpers.ts';
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

/** What `ephemera --json ARGS` says for a backup's refusal: the contract's code (apiCode where the CLI keeps its own name), sentence and exit code. */
async function viaCliBackup(args: string[], env: Record<string, string>, dir: string): Promise<{ exit: number | null; error: ApiErrorValue; cliCode: string }> {
  const r = await runCli(['--profile', dir, '--json', ...args], env);
  const out = JSON.parse(r.stdout.trim()) as { ok: boolean; code: string; apiCode?: ApiErrorValue['code']; message: string };
  expect(out.ok, r.stderr).toBe(false);
  return { exit: r.code, error: { code: out.apiCode ?? (out.code as ApiErrorValue['code']), message: out.message }, cliCode: out.code };
}

/** The refusal of `method` on a messenger of `dir` (not unlocked) after opening the backup `file`, with the opened backupId in its params. */
async function viaDispatchOpened(dir: string, file: string, passphrase: string, method: MethodName, params: Record<string, unknown>): Promise<ApiErrorValue> {
  const m = await openMessenger({ profileDir: dir });
  try {
    const opened = await dispatchCall(m, 'backupOpen', { jobId: 'contract-open', path: file, key: { kind: 'passphrase', passphrase } });
    if (!opened.ok) throw new Error(`backupOpen failed: ${opened.error.message}`);
    return refusal(method, await dispatchCall(m, method, { ...params, backupId: (opened.value as { backupId: string }).backupId }));
  } finally {
    await m.close();
  }
}

describe('unlock-check and status go through the contract (vaultCheck, vaultInfo)', () => {
  it('a wrong password: the same WRONG_PASSWORD and sentence; the session was never opened', async () => {
    const served = await viaDispatchLocked(profile, 'vaultCheck', { password: 'not the password 123' });
    expect(served.code).toBe('WRONG_PASSWORD');
    const cli = await viaCli(['unlock-check'], { EPHEMERA_PASSWORD: 'not the password 123' });
    expect(cli.error).toEqual(served);
    expect(cli.exit).toBe(API_EXIT.WRONG_PASSWORD);
    // Right password: the vault is read and locked again, the messenger stays locked.
    const m = await openMessenger({ profileDir: profile });
    try {
      const ok = await dispatchCall(m, 'vaultCheck', { password: PASSWORD });
      expect(ok).toEqual({ ok: true, value: { messages: 3, conversations: 2, contacts: 2, damagedConversations: [] } });
      expect((await m.vaultStatus()).vault).toBe('locked');
    } finally {
      await m.close();
    }
  });

  it('a damaged message segment: the password is right (exit 0) and the conversation that does not open is named, the same through both', async () => {
    const dir = damagedCopies(root, profile)((db) => {
      const row = db.prepare<[string], { id: number; sealed: Buffer }>('SELECT id, sealed FROM message_segments WHERE conversation_id = ?').get(CAROL_CONV);
      if (!row) throw new Error('no segment');
      row.sealed.writeUInt8(row.sealed.readUInt8(0) ^ 1, 0);
      db.prepare('UPDATE message_segments SET sealed = ? WHERE id = ?').run(row.sealed, row.id);
    });
    const served = await dispatched('vaultCheck', { password: PASSWORD }, { dir, locked: true });
    const expected: VaultCheck = { messages: 3, conversations: 2, contacts: 2, damagedConversations: [CAROL_CONV] };
    expect(served).toEqual({ ok: true, value: expected });
    const r = await runCli(['--profile', dir, '--json', 'unlock-check'], { EPHEMERA_PASSWORD: PASSWORD });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim())).toEqual({ ok: true, profile: dir, ...expected });
    const human = await runCli(['--profile', dir, 'status'], { EPHEMERA_PASSWORD: PASSWORD });
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toContain('DAMAGED: the messages of 1 conversation do not open');
  });

  it('a lost header: status gets the same VAULT_CORRUPT and sentence as vaultInfo; a profile open elsewhere: unlock-check the same PROFILE_LOCKED as vaultCheck', async () => {
    const dir = damagedCopies(root, profile)(() => undefined);
    rmSync(join(dir, 'vault.header.json'));
    const served = await viaDispatchLocked(dir, 'vaultInfo', undefined);
    expect(served.code).toBe('VAULT_CORRUPT');
    const cli = await viaCli(['status'], {}, dir);
    expect(cli.error).toEqual(served);
    expect(cli.exit).toBe(API_EXIT.VAULT_CORRUPT);

    const open = await Vault.unlock(profile, PASSWORD);
    try {
      const locked = await viaDispatchLocked(profile, 'vaultCheck', { password: PASSWORD });
      expect(locked.code).toBe('PROFILE_LOCKED');
      const unlockCheck = await viaCli(['unlock-check']);
      expect(unlockCheck.error).toEqual(locked);
      expect(unlockCheck.exit).toBe(API_EXIT.PROFILE_LOCKED);
      // status still answers from the header and the lock file, naming this process.
      const info = await dispatched('vaultInfo', undefined, { locked: true });
      expect(info).toMatchObject({ ok: true, value: { exists: true, format: 1, lockedBy: process.pid } });
    } finally {
      open.lock();
    }
  });
});

describe('export, import and open-backup go through the contract', () => {
  const BACKUP_PASSPHRASE = 'Copper kettle orchard 4471 lantern';
  let file: string;
  beforeAll(async () => {
    file = join(root, 'contract.age');
    const r = await runCli(['--profile', profile, '--json', 'export', file, '--work-factor', '10'], { EPHEMERA_PASSWORD: PASSWORD, EPHEMERA_BACKUP_PASSPHRASE: BACKUP_PASSPHRASE });
    expect(r.code, r.stderr).toBe(0);
    // The summary is the contract's ExportSummary: counts, no identity, unsigned (no registration here).
    expect(JSON.parse(r.stdout.trim())).toMatchObject({ ok: true, counts: { messages: 3, contacts: 2, conversations: 2, secrets: 0 }, includesIdentity: false, signer: null });
  });

  it("the work factor is bounded by the contract's schema: no caller of the contract can go below the default", async () => {
    expect([MIN_BACKUP_WORK_FACTOR, MAX_BACKUP_WORK_FACTOR]).toEqual([DEFAULT_WORK_FACTOR, MAX_WORK_FACTOR]);
    for (const workFactor of [10, MIN_BACKUP_WORK_FACTOR - 1, MAX_BACKUP_WORK_FACTOR + 1, 18.5]) {
      const served = await viaDispatch('backupExport', { jobId: 'contract-export', path: join(root, 'weak-wf.age'), protection: { kind: 'passphrase', passphrase: BACKUP_PASSPHRASE, workFactor }, includeIdentity: false });
      expect({ workFactor, code: served.code }).toEqual({ workFactor, code: 'INVALID_ARGUMENT' });
      expect(served.message).toContain('workFactor');
    }
    expect(existsSync(join(root, 'weak-wf.age'))).toBe(false);
  });

  it('a weak backup passphrase: the same WEAK_PASSWORD and reason from backupExport and export', async () => {
    const target = join(root, 'weak-pass.age');
    const served = await viaDispatch('backupExport', { jobId: 'contract-export', path: target, protection: { kind: 'passphrase', passphrase: 'abc' }, includeIdentity: false });
    expect(served.code).toBe('WEAK_PASSWORD');
    const cli = await viaCli(['export', target, '--work-factor', '10'], { EPHEMERA_PASSWORD: PASSWORD, EPHEMERA_BACKUP_PASSPHRASE: 'abc' });
    expect(cli.error).toEqual(served);
    expect(cli.exit).toBe(API_EXIT.WEAK_PASSWORD);
    expect(existsSync(target)).toBe(false);
  });

  it('import into a profile without a vault: an unsigned backup is BACKUP_UNTRUSTED from backupRestore and import alike, and no profile is made', async () => {
    const fresh = join(root, 'restore-untrusted');
    const params = { jobId: 'contract-restore', path: file, key: { kind: 'passphrase', passphrase: BACKUP_PASSPHRASE }, password: PASSWORD };
    const served = await viaDispatchLocked(fresh, 'backupRestore', params);
    expect(served.code).toBe('BACKUP_UNTRUSTED');
    const env = { EPHEMERA_PASSWORD: PASSWORD, EPHEMERA_BACKUP_PASSPHRASE: BACKUP_PASSPHRASE, EPHEMERA_KDF: 'test' };
    const cli = await viaCliBackup(['import', file], env, fresh);
    expect(cli.error).toEqual(served);
    // The exit code and --json's code are the ones this command always had.
    expect({ exit: cli.exit, code: cli.cliCode }).toEqual({ exit: API_EXIT.BACKUP_UNTRUSTED, code: 'UNTRUSTED' });
    expect(existsSync(fresh)).toBe(false);

    // A damaged file: BACKUP_CORRUPT (exit 5), again before anything is created.
    const bytes = readFileSync(file);
    bytes[bytes.length - 10] = (bytes[bytes.length - 10] as number) ^ 1;
    const bad = join(root, 'contract-bad.age');
    writeFileSync(bad, bytes);
    const corrupt = await viaDispatchLocked(fresh, 'backupRestore', { ...params, path: bad, trustUnsigned: true });
    expect(corrupt.code).toBe('BACKUP_CORRUPT');
    const corruptCli = await viaCliBackup(['import', bad, '--trust-unsigned'], env, fresh);
    expect(corruptCli.error).toEqual(corrupt);
    expect({ exit: corruptCli.exit, code: corruptCli.cliCode }).toEqual({ exit: API_EXIT.BACKUP_CORRUPT, code: 'CORRUPT' });
    expect(existsSync(fresh)).toBe(false);

    // Confirmed: created and imported, with the phrase shown once and the counts the contract gives.
    const ok = await runCli(['--profile', fresh, '--json', 'import', file, '--trust-unsigned'], env);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout.trim())).toMatchObject({ created: true, added: { messages: 3, contacts: 2 }, inFile: { messages: 3 }, signer: { status: 'unsigned', fingerprint: null } });
    // A profile with a vault refuses backupRestore: it imports with backupImport instead.
    expect((await viaDispatchLocked(fresh, 'backupRestore', params)).code).toBe('VAULT_EXISTS');
  });

  it('open-backup: a wrong passphrase and a name the backup does not have get the same codes and sentences as backupOpen and backupContacts', async () => {
    const elsewhere = join(root, 'no-profile');
    const served = await viaDispatchLocked(elsewhere, 'backupOpen', { jobId: 'contract-open', path: file, key: { kind: 'passphrase', passphrase: 'not the passphrase' } });
    expect(served.code).toBe('BACKUP_WRONG_KEY');
    const cli = await viaCliBackup(['open-backup', file, 'search', 'plums'], { EPHEMERA_BACKUP_PASSPHRASE: 'not the passphrase' }, elsewhere);
    expect(cli.error).toEqual(served);
    expect({ exit: cli.exit, code: cli.cliCode }).toEqual({ exit: API_EXIT.BACKUP_WRONG_KEY, code: 'WRONG_KEY' });

    const unknown = await viaDispatchOpened(elsewhere, file, BACKUP_PASSPHRASE, 'backupContacts', { name: 'nobody' });
    expect(unknown.code).toBe('BAD_PARAMETERS');
    const history = await viaCliBackup(['open-backup', file, 'history', 'nobody'], { EPHEMERA_BACKUP_PASSPHRASE: BACKUP_PASSPHRASE }, elsewhere);
    expect(history.error).toEqual(unknown);
    expect(history.exit).toBe(API_EXIT.BAD_PARAMETERS);
    expect(existsSync(elsewhere)).toBe(false);

    // Without a name: every contact with its conversation there.
    const m = await openMessenger({ profileDir: elsewhere });
    try {
      const { backupId } = await m.backupOpen({ jobId: 'contract-open', path: file, key: { kind: 'passphrase', passphrase: BACKUP_PASSPHRASE } });
      const all = await dispatchCall(m, 'backupContacts', { backupId });
      expect(all.ok && (all.value as { handle: string; conversationId: string }[]).map((c) => [c.handle, c.conversationId]).sort()).toEqual([['bob', CONV], ['carol', CAROL_CONV]]);
    } finally {
      await m.close();
    }
    // A name the backup has: its history through historyPage, as the app pages it.
    const ok = await runCli(['--json', 'open-backup', file, 'history', 'Carol'], { EPHEMERA_BACKUP_PASSPHRASE: BACKUP_PASSPHRASE });
    expect(ok.code, ok.stderr).toBe(0);
    expect((JSON.parse(ok.stdout.trim()) as { messages: { id: string }[] }).messages.map((m) => m.id)).toEqual(['m-plums-1', 'm-plums-2', 'm-other']);
  });
});
