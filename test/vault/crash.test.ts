// Crash safety: a writer killed with SIGKILL in the middle of batch writes leaves a vault that
// reopens consistently with every batch it reported committed.
import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Vault, TEST_KDF } from '../../main/vault/index.ts';
import { tempProfile } from './helpers.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const writer = fileURLToPath(new URL('./fixtures/crash-writer.ts', import.meta.url));
const BATCH = 200;

describe('crash safety', () => {
  const profiles: ReturnType<typeof tempProfile>[] = [];
  afterEach(() => {
    for (const p of profiles.splice(0)) p.cleanup();
  });

  it('keeps every committed batch and no partial batch after SIGKILL', async () => {
    const profile = tempProfile();
    profiles.push(profile);
    (await Vault.create(profile.dir, 'pw-crash', { kdf: TEST_KDF })).vault.lock();

    const child = spawn(process.execPath, ['--import', 'tsx', writer, profile.dir, 'pw-crash', String(BATCH)], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const reported = await new Promise<number>((resolve, reject) => {
      let buffered = '';
      let last = -1;
      const timer = setTimeout(() => reject(new Error(`writer made no progress: ${stderr}`)), 90_000);
      child.stdout.on('data', (d: Buffer) => {
        buffered += d.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        for (const line of lines) {
          const m = /^committed (\d+)$/u.exec(line);
          if (m) last = Number(m[1]);
        }
        if (last >= 8) {
          clearTimeout(timer);
          child.kill('SIGKILL');
          resolve(last);
        }
      });
      child.on('exit', () => {
        clearTimeout(timer);
        if (last < 8) reject(new Error(`writer exited early: ${stderr}`));
      });
    });
    await new Promise<void>((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', () => r())));
    expect(child.signalCode).toBe('SIGKILL');
    // The dead writer's lock file is still there; it must be recognised as stale.
    expect(existsSync(join(profile.dir, 'vault.lock'))).toBe(true);

    const vault = await Vault.unlock(profile.dir, 'pw-crash');
    try {
      const total = vault.countMessages();
      expect(total % BATCH).toBe(0);
      const batches = total / BATCH;
      expect(batches).toBeGreaterThan(reported);
      for (let b = 0; b < batches; b++) {
        expect(vault.getMessage(`b${b}-0`)?.text).toBe(`crash test batch ${b} row 0`);
        expect(vault.getMessage(`b${b}-${BATCH - 1}`)?.text).toBe(`crash test batch ${b} row ${BATCH - 1}`);
      }
      expect(vault.getMessage(`b${batches}-0`)).toBeUndefined();
      // Every row decrypts and ordering keys are dense per conversation.
      const seen = new Map<string, number>();
      let n = 0;
      for (const m of vault.iterateMessages()) {
        const prev = seen.get(m.conversationId) ?? 0;
        expect(m.orderKey).toBe(prev + 1);
        seen.set(m.conversationId, m.orderKey);
        n += 1;
      }
      expect(n).toBe(total);
      // And the vault keeps working.
      const more = vault.appendMessages([{ id: 'after-crash', conversationId: 'conv-0', direction: 'out', sender: 'self', sentAt: 1, text: 'after', state: 'queued' }]);
      expect(more[0]!.orderKey).toBe((seen.get('conv-0') ?? 0) + 1);
    } finally {
      vault.lock();
    }
  });
});
