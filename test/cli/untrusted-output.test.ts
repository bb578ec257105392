// Untrusted text reaches the terminal harmless in every command (cli/terminal.ts): a contact
// sends a message full of terminal escapes, bidi overrides, BEL and CR over a real relay, and
// sync, history, search, contact list, export (to a file name with an escape in it),
// open-backup history/search and error messages print it with every control made visible;
// --json gives back the exact text.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { messagingScene, newPeer, PASSWORD } from '../messaging/helpers.ts';
import { runCli, type CliResult } from './run.ts';

const scene = messagingScene('untrusted-out', ['alice', 'bob', 'files'] as const);
const { dirs, peers } = scene;
const BACKUP_PASSPHRASE = 'backup pass phrase for the test';

// ESC[2J clears the screen, OSC 0 sets the window title (ended by BEL), CR overwrites the line,
// U+202E reverses what follows, U+009B is a one-byte CSI, U+2066 opens a bidi isolate.
const NASTY = 'payload \u001b[2J\u001b]0;pwned\u0007 rate\u202Eexe.txt\rFAKE LINE\nsecond line \u009b31m \u2066x\u2069 end';

// Anything a terminal could act on, apart from the newlines between output lines.
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const TERMINAL_UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

type Run = CliResult;

function run(profile: string, ...args: string[]): Promise<Run> {
  return runCli(['--profile', profile, ...args], { EPHEMERA_PASSWORD: PASSWORD, EPHEMERA_BACKUP_PASSPHRASE: BACKUP_PASSPHRASE, EPHEMERA_KDF: 'test' });
}

/** Human output: no control character but newlines, and the nasty text shown escaped. */
function expectNeutralised(r: Run, shows: string[] = []): void {
  const out = r.stdout + r.stderr;
  expect(out).not.toMatch(TERMINAL_UNSAFE);
  for (const s of shows) expect(out).toContain(s);
}

const SHOWN = ['payload \\u{1b}[2J\\u{1b}]0;pwned\\u{7} rate\\u{202e}exe.txt\\rFAKE LINE\\nsecond line \\u{9b}31m \\u{2066}x\\u{2069} end'];

describe('untrusted text in CLI output', () => {
  // 15 CLI processes one after another (each opens bob's profile, so they cannot overlap): 62 s on
  // the CI machine (CI35), past the 120 s default at load 12-20; nothing in it asserts on time.
  it('every command shows control characters as visible escapes; --json keeps the exact text', { timeout: 300_000 }, async () => {
    const started = await scene.startRelay();
    const alice = await newPeer(dirs.alice, 'alice', started.descriptorText);
    const bob = await newPeer(dirs.bob, 'bob', started.descriptorText);
    peers.push(alice);
    await bob.m.close();
    const c = await alice.m.contactAdd({ handle: 'bob' });
    await alice.m.sendText({ conversationId: c.conversationId, text: NASTY });
    expect(await alice.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });

    const synced = await run(dirs.bob, 'sync', '--wait', '60');
    expect(synced.code, synced.stderr).toBe(0);
    expectNeutralised(synced, ['received 1 new message']);

    const history = await run(dirs.bob, 'history', 'alice');
    expect(history.code, history.stderr).toBe(0);
    expectNeutralised(history, SHOWN);
    // The message is one line of output: its CR and newline cannot forge lines of their own.
    expect(history.stdout.trim().split('\n')).toHaveLength(1);
    const historyJson = await run(dirs.bob, '--json', 'history', 'alice');
    expect((JSON.parse(historyJson.stdout) as { messages: { text: string }[] }).messages[0]?.text).toBe(NASTY);
    // JSON output is exact but carries no raw C1 or bidi character either.
    expect(historyJson.stdout.trim()).not.toMatch(TERMINAL_UNSAFE);

    const search = await run(dirs.bob, 'search', 'payload');
    expect(search.code, search.stderr).toBe(0);
    expectNeutralised(search, ['[payload]', '\\u{1b}[2J', '\\u{202e}']);
    const searchJson = await run(dirs.bob, '--json', 'search', 'payload');
    expect(JSON.parse(searchJson.stdout)).toMatchObject({ ok: true, results: [{ snippet: { text: expect.stringContaining('\u001b[2J') } }] });

    const contacts = await run(dirs.bob, 'contact', 'list');
    expect(contacts.code, contacts.stderr).toBe(0);
    expectNeutralised(contacts, ['alice']);

    // A file name is untrusted too.
    const backup = join(dirs.files, 'b\u001b[2Jackup.age');
    const exported = await run(dirs.bob, 'export', backup);
    expect(exported.code, exported.stderr).toBe(0);
    expectNeutralised(exported, ['b\\u{1b}[2Jackup.age']);

    const opened = await run(dirs.bob, 'open-backup', backup, 'history', 'alice');
    expect(opened.code, opened.stderr).toBe(0);
    expectNeutralised(opened, SHOWN);
    const openedSearch = await run(dirs.bob, 'open-backup', backup, 'search', 'payload');
    expect(openedSearch.code, openedSearch.stderr).toBe(0);
    expectNeutralised(openedSearch, SHOWN);
    const openedJson = await run(dirs.bob, '--json', 'open-backup', backup, 'history', 'alice');
    expect((JSON.parse(openedJson.stdout) as { messages: { text: string }[] }).messages[0]?.text).toBe(NASTY);

    // Error messages quote what they were given; the details stay on one line, escaped.
    const noChat = await run(dirs.bob, 'search', 'payload', '--chat', 'x\u001b]0;pwned\u0007\ny');
    expect(noChat.code).toBe(2);
    expectNeutralised(noChat, ['x\\u{1b}]0;pwned\\u{7}\\ny']);
    expect(noChat.stderr.trim().split('\n')).toHaveLength(1);
    const noContact = await run(dirs.bob, 'open-backup', backup, 'history', '\u202Eevil\u001b[2J');
    expect(noContact.code).not.toBe(0);
    expectNeutralised(noContact, ['\\u{202e}evil\\u{1b}[2J']);
    // Usage errors (commander's) quote the argument too.
    const badArg = await run(dirs.bob, 'history', 'alice', '--limit', '\u001b[2J\u0007');
    expect(badArg.code).toBe(2);
    expectNeutralised(badArg, ['\\u{1b}[2J\\u{7}']);
    const noContactJson = await run(dirs.bob, '--json', 'open-backup', backup, 'history', '\u202Eevil\u001b[2J');
    expect((JSON.parse(noContactJson.stdout) as { message: string }).message).toContain('\u202Eevil\u001b[2J');
  });
});
