// The `ephemera` messaging commands as child processes against a real relay process: register,
// contact add, safety-number, send (also while the relay is down: queued in the sealed outbox,
// delivered by the next sync, which says it went out), sync of 100 messages queued for an
// offline recipient, history, the documented exit codes and the relay refusals' sentences.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openMessenger } from '../../main/messenger.ts';
import { runCli, type CliResult } from '../cli/run.ts';
import { cli, messagingScene, PASSWORD, tempDir } from './helpers.ts';

const scene = messagingScene('cli', ['alice', 'bob'] as const);
const { dirs } = scene;

/** The CLI's human output (no --json). */
function human(profile: string, ...args: string[]): Promise<CliResult> {
  return runCli(['--profile', profile, ...args], { EPHEMERA_PASSWORD: PASSWORD, EPHEMERA_KDF: 'test' });
}

describe('ephemera messaging CLI', () => {
  it('registers, adds, sends, queues while the relay is down, syncs 100 for an offline recipient', async () => {
    const started = await scene.startRelay();
    const descFile = join(dirs.relay, 'descriptor.json');

    expect((await cli(dirs.alice, 'init')).code).toBe(0);
    expect((await cli(dirs.bob, 'init')).code).toBe(0);
    // Not registered yet.
    expect((await cli(dirs.alice, 'contact', 'add', 'bob')).code).toBe(12);
    const reg = await cli(dirs.alice, 'register', '--server', descFile, '--handle', 'alice');
    expect(reg.code, reg.stderr).toBe(0);
    expect(reg.json.handle).toBe('alice');
    expect((await cli(dirs.bob, 'register', '--server', descFile, '--handle', 'bob')).code).toBe(0);
    // The handle is taken: its own exit code and a sentence, not the relay's code.
    const other = tempDir('cli-other');
    try {
      expect((await cli(other.dir, 'init')).code).toBe(0);
      const taken = await human(other.dir, 'register', '--server', descFile, '--handle', 'bob');
      expect(taken.code, taken.stderr).toBe(18);
      expect(taken.stderr).toBe('ephemera: bob is already taken on this relay; choose another handle.\n');
    } finally {
      other.cleanup();
    }

    // Unknown handle on the relay; unknown contact in the profile; a malformed handle.
    expect((await cli(dirs.alice, 'contact', 'add', 'nobody')).code).toBe(10);
    expect((await cli(dirs.alice, 'contact', 'add', 'no body')).code).toBe(17);
    expect((await cli(dirs.alice, 'send', 'bob', 'hi')).code).toBe(10);
    const added = await cli(dirs.alice, 'contact', 'add', 'bob');
    expect(added.code, added.stderr).toBe(0);
    const list = await cli(dirs.alice, 'contact', 'list');
    expect((list.json.contacts as { handle: string }[]).map((c) => c.handle)).toEqual(['bob']);

    // 100 messages for Bob while his profile is closed (through the API: faster than 100 processes).
    const alice = await openMessenger({ profileDir: dirs.alice });
    await alice.unlock({ password: PASSWORD });
    // The profile is open here: the CLI refuses it with exit code 4.
    expect((await cli(dirs.alice, 'contact', 'list')).code).toBe(4);
    const conv = (await alice.contactsList()).find((c) => c.handle === 'bob')!.conversationId;
    for (let i = 0; i < 100; i++) await alice.sendText({ conversationId: conv, text: `offline-${String(i).padStart(3, '0')}` });
    expect(await alice.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    await alice.close();

    const synced = await cli(dirs.bob, 'sync', '--wait', '60');
    expect(synced.code, synced.stderr).toBe(0);
    expect(synced.json.received).toBe(100);
    const hist = await cli(dirs.bob, 'history', 'alice', '--limit', '500');
    expect(hist.code).toBe(0);
    const texts = (hist.json.messages as { text: string; direction: string }[]).map((m) => m.text);
    expect(texts).toEqual(Array.from({ length: 100 }, (_, i) => `offline-${String(i).padStart(3, '0')}`));

    // Safety numbers agree across the two profiles.
    const sa = await cli(dirs.alice, 'safety-number', 'bob');
    const sb = await cli(dirs.bob, 'safety-number', 'alice');
    expect((sa.json.safetyNumber as { digits: string }).digits).toMatch(/^\d{60}$/);
    expect((sa.json.safetyNumber as { digits: string }).digits).toBe((sb.json.safetyNumber as { digits: string }).digits);
    expect((await cli(dirs.alice, 'verify', 'bob')).code).toBe(0);

    // Relay down: send queues in the sealed outbox and says so; contact add fails with 11.
    await started.relay.kill('SIGKILL');
    const queued = await cli(dirs.alice, 'send', 'bob', 'while-the-relay-was-down', '--wait', '2');
    expect(queued.code, queued.stderr).toBe(0);
    expect(queued.json.state).toBe('queued');
    expect(queued.json.outbox).toBeGreaterThanOrEqual(1);
    expect((await cli(dirs.alice, 'contact', 'add', 'carol', '--wait', '1')).code).toBe(11);
    expect((await cli(dirs.bob, 'sync', '--wait', '1')).code).toBe(11);

    const again = (await scene.startRelay(started.port)).relay;
    const flushed = await cli(dirs.alice, 'sync', '--wait', '30');
    expect(flushed.code, flushed.stderr).toBe(0);
    expect(flushed.json.outbox).toBe(0);
    // sync says what went out of the outbox, not only what arrived.
    expect(flushed.json).toMatchObject({ sent: 1, failed: 0, received: 0 });
    const got = await cli(dirs.bob, 'sync', '--wait', '30');
    expect(got.json.received).toBe(1);
    const last = await cli(dirs.bob, 'history', 'alice', '--limit', '1');
    expect((last.json.messages as { text: string }[])[0]!.text).toBe('while-the-relay-was-down');
    // Around a message id.
    const around = await cli(dirs.bob, 'history', 'alice', '--limit', '5', '--around', (last.json.messages as { id: string }[])[0]!.id);
    expect((around.json.messages as unknown[]).length).toBe(3);

    const account = await cli(dirs.alice, 'account');
    expect(account.json).toMatchObject({ handle: 'alice', contacts: 1 });
    // The same once more in human output: the relay down at send time, up at sync.
    await again.kill('SIGKILL');
    expect((await cli(dirs.alice, 'send', 'bob', 'queued-again', '--wait', '1')).json.state).toBe('queued');
    await scene.startRelay(started.port);
    const said = await human(dirs.alice, 'sync', '--wait', '30');
    expect(said.code, said.stderr).toBe(0);
    expect(said.stdout).toBe('Sent 1 queued message(s); received 0 new message(s); 0 waiting in the outbox.\n');
    // People see handles, not ids: history's human lines carry no message id.
    const lines = await human(dirs.bob, 'history', 'alice', '--limit', '2');
    expect(lines.stdout).toContain('<- alice  while-the-relay-was-down  [received]');
    expect(lines.stdout).not.toContain((last.json.messages as { id: string }[])[0]!.id);

    // Already registered; and a descriptor that is not one is a usage error.
    expect((await cli(dirs.alice, 'register', '--server', descFile, '--handle', 'someone_else')).code).toBe(20);
    writeFileSync(join(dirs.relay, 'bad.json'), '{"url":1}');
    const fresh = tempDir('cli-fresh');
    try {
      expect((await cli(fresh.dir, 'init')).code).toBe(0);
      expect((await cli(fresh.dir, 'register', '--server', join(dirs.relay, 'bad.json'), '--handle', 'x_y_z')).code).toBe(2);
    } finally {
      fresh.cleanup();
    }
  }, 400_000);
});
