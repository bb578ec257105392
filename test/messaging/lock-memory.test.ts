// A locked app holds no key in its memory. A child process unlocks a profile, sends and receives
// through a real relay, and reports every key as it is made (test-only observer, as hex). Then
// this test reads the child's whole memory from outside (/proc/PID/mem over its readable
// mappings): before lock the scan finds the keys (so it does see them), after lock it finds none
// of the password key, the data key, the vault subkeys, the permanent key or the temp transport
// keys.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { messagingScene, newPeer, PASSWORD, waitFor } from './helpers.ts';

const scene = messagingScene('lockmem', ['alice', 'bob']);
const { dirs, peers } = scene;
const root = join(import.meta.dirname, '..', '..');

/** Labels of the needles found anywhere in the readable memory of `pid`, with the mapping each was found in. */
function scanMemory(pid: number, needles: Map<string, Buffer>): Map<string, string> {
  const found = new Map<string, string>();
  const maps = readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n');
  const fd = openSync(`/proc/${pid}/mem`, 'r');
  const CHUNK = 8 << 20;
  const OVERLAP = 64;
  const buf = Buffer.alloc(CHUNK);
  try {
    for (const line of maps) {
      const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \S+\s*(.*)$/u.exec(line);
      if (!m) continue;
      const [, startHex, endHex, perms, name] = m as unknown as [string, string, string, string, string];
      // [vvar] and [vsyscall] are not readable through /proc/PID/mem.
      if (!perms.startsWith('r') || name.startsWith('[vvar') || name === '[vsyscall]') continue;
      const start = Number.parseInt(startHex, 16);
      const end = Number.parseInt(endHex, 16);
      for (let pos = start; pos < end; pos += CHUNK - OVERLAP) {
        const want = Math.min(CHUNK, end - pos);
        let got: number;
        try {
          got = readSync(fd, buf, 0, want, pos);
        } catch {
          break; // an unreadable region (e.g. a guard or device mapping)
        }
        const view = buf.subarray(0, got);
        for (const [label, needle] of needles) {
          if (!found.has(label) && view.includes(needle)) found.set(label, `${startHex}-${endHex} ${perms} ${name}`);
        }
        if (got < want) break;
      }
    }
  } finally {
    closeSync(fd);
  }
  return found;
}

class Child {
  readonly keys = new Map<string, Buffer>();
  private readonly lines: string[] = [];
  private stderr = '';

  constructor(readonly proc: ChildProcessWithoutNullStreams) {
    createInterface({ input: proc.stdout }).on('line', (line) => {
      const k = /^key (\S+) ([0-9a-f]+)$/u.exec(line);
      if (k) {
        const [, label, hex] = k as unknown as [string, string, string];
        // A label seen twice (a second temp key) gets a counter.
        let name = label;
        for (let i = 2; this.keys.has(name); i++) name = `${label}#${i}`;
        this.keys.set(name, Buffer.from(hex, 'hex'));
      } else this.lines.push(line);
    });
    proc.stderr.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4000)));
  }

  async waitLine(line: string): Promise<void> {
    await waitFor(() => {
      if (this.proc.exitCode !== null) throw new Error(`child exited ${this.proc.exitCode}: ${this.stderr}`);
      return this.lines.includes(line);
    }, 90_000, `child: ${line}`);
  }
}

describe('lock', () => {
  it('leaves none of the password key, data key, vault subkeys, permanent key or temp keys in the process memory', async () => {
    const started = await scene.startRelay();
    const alice = await newPeer(dirs.alice, 'alice', started.descriptorText);
    const bob = await newPeer(dirs.bob, 'bob', started.descriptorText);
    peers.push(bob);
    // Sessions both ways first; then Alice's profile moves into the child process.
    const bobContact = await alice.m.contactAdd({ handle: 'bob' });
    await alice.m.sendText({ conversationId: bobContact.conversationId, text: 'hello bob' });
    await waitFor(async () => (await bob.m.contactsList()).length === 1, 60_000, 'bob sees alice');
    const aliceConversation = (await bob.m.contactsList())[0]!.conversationId;
    await alice.m.close();

    const child = new Child(
      spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'lock-memory-child.ts'), dirs.alice, bobContact.conversationId], {
        cwd: root,
        // One libuv pool thread: the scrub of Argon2's stack residue (main/vault/kdf.ts) then
        // surely reaches the thread that computed the password key; with more threads it is best
        // effort (docs/threat-model.md).
        env: { ...process.env, EPHEMERA_TEST_HOOKS: '1', LOCK_TEST_PASSWORD: PASSWORD, UV_THREADPOOL_SIZE: '1' },
        stdio: ['pipe', 'pipe', 'pipe'],
      }),
    );
    try {
      await child.waitLine('sent');
      await waitFor(() => bob.events.some((e) => e.name === 'message' && e.payload.text === 'ping from the child'), 60_000, 'bob receives');
      await bob.m.sendText({ conversationId: aliceConversation, text: 'pong from bob' });
      await child.waitLine('received');

      const labels = [...child.keys.keys()];
      expect(labels).toContain('vault.password-key');
      expect(labels).toContain('vault.data');
      expect(labels).toContain('vault.subkey.messages');
      expect(labels).toContain('permanent');
      expect(labels).toContain('temp.c2s');
      expect(labels).toContain('temp.s2c');
      for (const key of child.keys.values()) expect(key.length).toBeGreaterThanOrEqual(16);

      // While unlocked the scan finds the keys in use: it sees the memory where they live.
      const pid = child.proc.pid as number;
      const unlocked = scanMemory(pid, child.keys);
      const live = labels.filter((l) => l.startsWith('vault.subkey.') || l === 'vault.data' || l === 'permanent');
      expect(live.length).toBe(12);
      expect([...unlocked.keys()]).toEqual(expect.arrayContaining(live));

      child.proc.stdin.write('lock\n');
      await child.waitLine('locked');
      const locked = scanMemory(pid, child.keys);
      expect(Object.fromEntries(locked)).toEqual({});
    } finally {
      child.proc.kill('SIGKILL');
    }
  });
});
