// Helpers for backup tests: temp dirs, the real `age` / `age-keygen` tools, and a pty (via
// util-linux `script`) for age's passphrase prompt, which reads only from a terminal.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function makeTempDir(prefix = 'ephemera-backup-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface AgeKeyPair {
  identity: string;
  recipient: string;
  identityFile: string;
}

export function ageKeygen(dir: string, name = 'id.txt'): AgeKeyPair {
  const identityFile = join(dir, name);
  const r = spawnSync('age-keygen', ['-o', identityFile], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`age-keygen failed: ${r.stderr}`);
  const identity = readFileSync(identityFile, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('AGE-SECRET-KEY-1'));
  const recipient = spawnSync('age-keygen', ['-y', identityFile], { encoding: 'utf8' }).stdout.trim();
  if (!identity || !recipient.startsWith('age1')) throw new Error('age-keygen output unexpected');
  return { identity, recipient, identityFile };
}

export function ageRun(args: string[], input?: Uint8Array): { status: number | null; stdout: Buffer; stderr: string } {
  const r = spawnSync('age', args, { maxBuffer: 1 << 30, ...(input ? { input } : {}) });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString('utf8') };
}

/** Runs `age` under a pty, typing `passphrase` at each prompt. Resolves with the exit code and the terminal output. */
export function ageWithPassphrase(args: string[], passphrase: string): Promise<{ code: number | null; output: string }> {
  const quoted = ['age', ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qefc', quoted, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    let prompts = 0;
    const onData = (d: Buffer): void => {
      output += d.toString('utf8');
      const seen = (output.match(/passphrase[^:]*:/gi) ?? []).length;
      while (prompts < seen) {
        prompts++;
        child.stdin.write(`${passphrase}\n`);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** SHA-256 of every file under dir (relative path -> hex), to prove a profile was not touched. */
export function hashTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const r = rel ? `${rel}/${name}` : name;
      if (statSync(p).isDirectory()) walk(p, r);
      else out[r] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(dir, '');
  return out;
}

/** A small valid backup stream (version 1), as plaintext lines, for tests that need no vault. */
export function sampleBackupLines(messagesPerConversation = 3): string[] {
  const contacts = [
    { type: 'contact', id: 'c-alice', handle: 'alice', displayName: 'Alice Émile', verified: true, identityChanged: false, createdAt: 1000, identityKey: 'BQECAwQ=' },
    { type: 'contact', id: 'c-bob', handle: 'bob', displayName: 'Bob Straße', verified: false, identityChanged: false, createdAt: 2000 },
  ];
  const conversations = [
    { type: 'conversation', id: 'v-alice', kind: 'direct', contactId: 'c-alice', title: 'Alice Émile', lastActivity: 5000, unread: 1 },
    { type: 'conversation', id: 'v-bob', kind: 'direct', contactId: 'c-bob', title: 'Bob Straße', lastActivity: 6000, unread: 0 },
  ];
  const messages: object[] = [];
  for (const conv of ['alice', 'bob']) {
    for (let i = 0; i < messagesPerConversation; i++) {
      messages.push({
        type: 'message',
        id: `m-${conv}-${i}`,
        conversationId: `v-${conv}`,
        direction: i % 2 === 0 ? 'in' : 'out',
        sender: i % 2 === 0 ? `c-${conv}` : 'self',
        sentAt: 3000 + i,
        receivedAt: 3100 + i,
        text: i === 1 ? `Café at the GROSSE Straße, ${conv}? 東京タワー` : `message ${i} for ${conv}`,
        state: i % 2 === 0 ? 'received' : 'read',
      });
    }
  }
  const counts = { contacts: 2, conversations: 2, messages: messages.length, secrets: 0 };
  return [
    JSON.stringify({ type: 'header', format: 'ephemera-backup', version: 1, created: 7000, counts, includesIdentity: false }),
    ...contacts.map((c) => JSON.stringify(c)),
    ...conversations.map((c) => JSON.stringify(c)),
    ...messages.map((m) => JSON.stringify(m)),
    JSON.stringify({ type: 'end', counts }),
  ];
}

/** Encrypts plaintext with the real `age` tool to an X25519 recipient and writes it to `file`. */
export function ageEncryptToFile(plaintext: string | Uint8Array, recipient: string, file: string): void {
  const r = ageRun(['-e', '-r', recipient, '-o', file], typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext);
  if (r.status !== 0) throw new Error(`age -e failed: ${r.stderr}`);
}
