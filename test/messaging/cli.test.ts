// The `ephemera` messaging commands as child processes against a real relay process: register,
// contact add, safety-number, send (also while the relay is down: queued in the sealed outbox,
// delivered by the next sync, which says it went out), sync of 100 messages queued for an
// offline recipient, history, the documented exit codes and the relay refusals' sentences.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openMessenger } from '../../main/messenger.ts';
import { RelayProcess } from '../chaos/relay-process.ts';
import { runCli, type CliResult } from '../cli/run.ts';
import { cli, PASSWORD, startRelay, tempDir } from './helpers.ts';

const relayDir = tempDir('cli-relay');
const aliceDir = tempDir('cli-alice');
const bobDir = tempDir('cli-bob');
const procs: RelayProcess[] = [];

/** The CLI's human output (no --json). */
function human(profile: string, ...args: string[]): Promise<CliResult> {
  return runCli(['--profile', profile, ...args], { EPHEMERA_PASSWORD: PASSWORD, EPHEMERA_KDF: 'test' });
}

afterAll(async () => {
  for (const p of procs) await p.kill();
  for (const d of [relayDir, aliceDir, bobDir]) d.cleanup();
});

describe('ephemera messaging CLI', () => {
  it('registers, adds, sends, queues while the relay is down, syncs 100 for an offline recipient', async () => {
    const started = await startRelay(relayDir.dir);
    procs.push(started.relay);
    const descFile = join(relayDir.dir, 'descriptor.json');

    expect((await cli(aliceDir.dir, 'init')).code).toBe(0);
    expect((await cli(bobDir.dir, 'init')).code).toBe(0);
    // Not registered yet.
    expect((await cli(aliceDir.dir, 'contact', 'add', 'bob')).code).toBe(12);
    const reg = await cli(aliceDir.dir, 'register', '--server', descFile, '--handle', 'alice');
    expect(reg.code, reg.stderr).toBe(0);
    expect(reg.json.handle).toBe('alice');
    expect((await cli(bobDir.dir, 'register', '--server', descFile, '--handle', 'bob')).code).toBe(0);
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
    expect((await cli(aliceDir.dir, 'contact', 'add', 'nobody')).code).toBe(10);
    expect((await cli(aliceDir.dir, 'contact', 'add', 'no body')).code).toBe(17);
    expect((await cli(aliceDir.dir, 'send', 'bob', 'hi')).code).toBe(10);
    const added = await cli(aliceDir.dir, 'contact', 'add', 'bob');
    expect(added.code, added.stderr).toBe(0);
    const list = await cli(aliceDir.dir, 'contact', 'list');
    expect((list.json.contacts as { handle: string }[]).map((c) => c.handle)).toEqual(['bob']);

    // 100 messages for Bob while his profile is closed (through the API: faster than 100 processes).
    const alice = await openMessenger({ profileDir: aliceDir.dir });
    await alice.unlock({ password: PASSWORD });
    // The profile is open here: the CLI refuses it with exit code 4.
    expect((await cli(aliceDir.dir, 'contact', 'list')).code).toBe(4);
    const conv = (await alice.contactsList()).find((c) => c.handle === 'bob')!.conversationId;
    for (let i = 0; i < 100; i++) await alice.sendText({ conversationId: conv, text: `offline-${String(i).padStart(3, '0')}` });
    expect(await alice.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    await alice.close();

    const synced = await cli(bobDir.dir, 'sync', '--wait', '60');
    expect(synced.code, synced.stderr).toBe(0);
    expect(synced.json.received).toBe(100);
    const hist = await cli(bobDir.dir, 'history', 'alice', '--limit', '500');
    expect(hist.code).toBe(0);
    const texts = (hist.json.messages as { text: string; direction: string }[]).map((m) => m.text);
    expect(texts).toEqual(Array.from({ length: 100 }, (_, i) => `offline-${String(i).padStart(3, '0')}`));

    // Safety numbers agree across the two profiles.
    const sa = await cli(aliceDir.dir, 'safety-number', 'bob');
    const sb = await cli(bobDir.dir, 'safety-number', 'alice');
    expect((sa.json.safetyNumber as { digits: string }).digits).toMatch(/^\d{60}$/);
    expect((sa.json.safetyNumber as { digits: string }).digits).toBe((sb.json.safetyNumber as { digits: string }).digits);
    expect((await cli(aliceDir.dir, 'verify', 'bob')).code).toBe(0);

    // Relay down: send queues in the sealed outbox and says so; contact add fails with 11.
    await started.relay.kill('SIGKILL');
    const queued = await cli(aliceDir.dir, 'send', 'bob', 'while-the-relay-was-down', '--wait', '2');
    expect(queued.code, queued.stderr).toBe(0);
    expect(queued.json.state).toBe('queued');
    expect(queued.json.outbox).toBeGreaterThanOrEqual(1);
    expect((await cli(aliceDir.dir, 'contact', 'add', 'carol', '--wait', '1')).code).toBe(11);
    expect((await cli(bobDir.dir, 'sync', '--wait', '1')).code).toBe(11);

    const again = await RelayProcess.start(relayDir.dir, started.port);
    procs.push(again);
    const flushed = await cli(aliceDir.dir, 'sync', '--wait', '30');
    expect(flushed.code, flushed.stderr).toBe(0);
    expect(flushed.json.outbox).toBe(0);
    // sync says what went out of the outbox, not only what arrived.
    expect(flushed.json).toMatchObject({ sent: 1, failed: 0, received: 0 });
    const got = await cli(bobDir.dir, 'sync', '--wait', '30');
    expect(got.json.received).toBe(1);
    const last = await cli(bobDir.dir, 'history', 'alice', '--limit', '1');
    expect((last.json.messages as { text: string }[])[0]!.text).toBe('while-the-relay-was-down');
    // Around a message id.
    const around = await cli(bobDir.dir, 'history', 'alice', '--limit', '5', '--around', (last.json.messages as { id: string }[])[0]!.id);
    expect((around.json.messages as unknown[]).length).toBe(3);

    const account = await cli(aliceDir.dir, 'account');
    expect(account.json).toMatchObject({ handle: 'alice', contacts: 1 });
    // The same once more in human output: the relay down at send time, up at sync.
    await again.kill('SIGKILL');
    expect((await cli(aliceDir.dir, 'send', 'bob', 'queued-again', '--wait', '1')).json.state).toBe('queued');
    procs.push(await RelayProcess.start(relayDir.dir, started.port));
    const said = await human(aliceDir.dir, 'sync', '--wait', '30');
    expect(said.code, said.stderr).toBe(0);
    expect(said.stdout).toBe('Sent 1 queued message(s); received 0 new message(s); 0 waiting in the outbox.\n');
    // People see handles, not ids: history's human lines carry no message id.
    const lines = await human(bobDir.dir, 'history', 'alice', '--limit', '2');
    expect(lines.stdout).toContain('<- alice  while-the-relay-was-down  [received]');
    expect(lines.stdout).not.toContain((last.json.messages as { id: string }[])[0]!.id);

    // Already registered; and a descriptor that is not one is a usage error.
    expect((await cli(aliceDir.dir, 'register', '--server', descFile, '--handle', 'someone_else')).code).toBe(20);
    writeFileSync(join(relayDir.dir, 'bad.json'), '{"url":1}');
    const fresh = tempDir('cli-fresh');
    try {
      expect((await cli(fresh.dir, 'init')).code).toBe(0);
      expect((await cli(fresh.dir, 'register', '--server', join(relayDir.dir, 'bad.json'), '--handle', 'x_y_z')).code).toBe(2);
    } finally {
      fresh.cleanup();
    }
  }, 400_000);
});
