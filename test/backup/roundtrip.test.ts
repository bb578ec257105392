// Export from a real vault, decrypt with the real `age` tool, import into real vaults; every
// refused file leaves the profile byte-identical.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Vault, TEST_KDF } from '../../main/vault/index.ts';
import type { NewMessage, StoredMessage, VaultHandle } from '../../main/vault/api.ts';
import { BackupError, exportBackup, importBackup, openBackup } from '../../main/backup/index.ts';
import { APPEND_BATCH } from '../../main/backup/import.ts';
import { ageEncryptToFile, ageKeygen, ageRun, ageWithPassphrase, hashTree, makeTempDir, type AgeKeyPair } from './helpers.ts';
import { MAX_TEXT_CHARS } from '../../shared/api.ts';
import { IdentityKeyPair } from '@signalapp/libsignal-client';

const PASS = 'backup passphrase ✓';
const WF = 10;

/** The account's identity: the source profile signs with it; "own" targets are the same account on another machine. */
const IDENTITY = IdentityKeyPair.generate().serialize();

async function newVault(dir: string, options: { own?: boolean } = {}): Promise<Vault> {
  const vault = (await Vault.create(dir, 'vault password 123', { kdf: TEST_KDF })).vault;
  if (options.own) vault.setAccountSecret('e2e-identity-key-pair', IDENTITY);
  return vault;
}

function fill(vault: VaultHandle, perConversation: number): void {
  const people = [
    { id: 'c-alice', handle: 'alice', displayName: 'Alice Émile' },
    { id: 'c-bob', handle: 'bob', displayName: 'Bob Straße' },
    { id: 'c-chen', handle: 'chen', displayName: '陳' },
  ];
  for (const [i, p] of people.entries()) {
    const identityKey = new Uint8Array([5, i, 1, 2]);
    vault.upsertContact({ ...p, ...(i === 0 ? { verifiedKey: identityKey } : {}), identityChanged: i === 2, createdAt: 1_000 + i, identityKey });
    vault.upsertConversation({ id: `v-${p.handle}`, kind: 'direct', contactId: p.id, title: p.displayName, lastActivity: 9_000 + i, unread: i });
    const batch: NewMessage[] = [];
    for (let n = 0; n < perConversation; n++) {
      batch.push({
        id: `m-${p.handle}-${n}`,
        conversationId: `v-${p.handle}`,
        direction: n % 2 ? 'out' : 'in',
        sender: n % 2 ? 'self' : p.id,
        sentAt: 1_700_000_000_000 + n,
        receivedAt: 1_700_000_000_100 + n,
        text: n % 97 === 0 ? `Ünïcödé 東京タワー line\nwith "quotes" and \\ ${n}` : `message ${n} to ${p.handle}`,
        state: n % 2 ? 'sent' : 'received',
      });
    }
    vault.appendMessages(batch);
  }
  vault.updateMessageState('m-alice-1', 'read');
  vault.setAccountSecret('e2e-identity-key-pair', IDENTITY);
}

type Comparable = Omit<StoredMessage, 'seq'>;
function history(vault: VaultHandle): Comparable[] {
  return [...vault.iterateMessages()].map(({ seq: _seq, ...m }) => m);
}

function errorCodeOf(err: unknown): string {
  return err instanceof BackupError ? err.code : `untyped: ${String(err)}`;
}

describe('backup round trip with the real vault', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let keys: AgeKeyPair;
  let source: Vault;
  let passFile: string;
  let idFile: string;
  beforeAll(async () => {
    tmp = makeTempDir();
    keys = ageKeygen(tmp.dir);
    source = await newVault(join(tmp.dir, 'source'));
    fill(source, 1500);
    passFile = join(tmp.dir, 'pass.age');
    idFile = join(tmp.dir, 'id.age');
    const progress: number[] = [];
    const r = await exportBackup(source, passFile, { keys: { passphrase: PASS, workFactor: WF }, onProgress: (p) => progress.push(p.done) });
    expect(r.counts).toEqual({ contacts: 3, conversations: 3, messages: 4500, secrets: 0 });
    expect(progress.at(-1)).toBe(4500);
    await exportBackup(source, idFile, { keys: { recipients: [keys.recipient] } });
  });
  afterAll(() => {
    source.lock();
    tmp.cleanup();
  });

  function parseLines(text: string): Array<Record<string, unknown>> {
    return text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  function expectMatchesVault(lines: Array<Record<string, unknown>>): void {
    expect(lines[0]).toMatchObject({ type: 'header', format: 'ephemera-backup', version: 2, includesIdentity: false });
    const messages = lines.filter((l) => l.type === 'message');
    expect(messages.map((m) => m.id)).toEqual(history(source).map((m) => m.id));
    expect(messages.find((m) => m.id === 'm-alice-1')?.state).toBe('read');
    expect(lines.filter((l) => l.type === 'contact').map((c) => c.handle).sort()).toEqual(['alice', 'bob', 'chen']);
    expect(lines.at(-2)).toEqual({ type: 'end', counts: { contacts: 3, conversations: 3, messages: 4500, secrets: 0 } });
    expect(lines.at(-1)).toMatchObject({ type: 'signature' });
    expect(lines.some((l) => l.type === 'account-secret')).toBe(false);
  }

  it('writes the backup readable by its owner only', () => {
    expect(statSync(passFile).mode & 0o777).toBe(0o600);
  });

  it('age -d -i decrypts an export to a stream that matches the vault', () => {
    const r = ageRun(['-d', '-i', keys.identityFile, idFile]);
    expect(r.status).toBe(0);
    expectMatchesVault(parseLines(r.stdout.toString('utf8')));
  });

  it('age -d with the passphrase (typed into a pty) decrypts an export', async () => {
    const out = join(tmp.dir, 'pass.jsonl');
    const r = await ageWithPassphrase(['-d', '-o', out, passFile], PASS);
    expect(r.code).toBe(0);
    expectMatchesVault(parseLines(readFileSync(out, 'utf8')));
  });

  it('imports into a new profile with equal histories; a second import adds nothing', async () => {
    const target = await newVault(join(tmp.dir, 'new-profile'), { own: true });
    try {
      const first = await importBackup(target, passFile, { keys: { passphrase: PASS } });
      expect(first.added).toEqual({ contacts: 3, conversations: 3, messages: 4500, secrets: 0 });
      expect(first.secretsSkipped).toEqual([]);
      expect(history(target)).toEqual(history(source));
      expect(target.listContacts()).toEqual(source.listContacts());
      expect(target.listConversations()).toEqual(source.listConversations());
      const second = await importBackup(target, passFile, { keys: { passphrase: PASS } });
      expect(second.added).toEqual({ contacts: 0, conversations: 0, messages: 0, secrets: 0 });
      expect(target.countMessages()).toBe(4500);
      expect(history(target)).toEqual(history(source));
    } finally {
      target.lock();
    }
  });

  it('merges into an existing profile, keeping what it has', async () => {
    const target = await newVault(join(tmp.dir, 'existing'), { own: true });
    try {
      target.upsertContact({ id: 'c-alice', handle: 'alice', displayName: 'Local Alice', identityChanged: false, createdAt: 5 });
      target.upsertConversation({ id: 'v-alice', kind: 'direct', contactId: 'c-alice', title: 'Local Alice', lastActivity: 1, unread: 7 });
      target.appendMessages([{ id: 'm-alice-0', conversationId: 'v-alice', direction: 'in', sender: 'c-alice', sentAt: 1, text: 'local copy', state: 'read' }]);
      target.appendMessages([{ id: 'local-only', conversationId: 'v-alice', direction: 'out', sender: 'self', sentAt: 2, text: 'mine', state: 'sent' }]);
      const r = await importBackup(target, idFile, { keys: { identities: [keys.identity] } });
      expect(r.added).toEqual({ contacts: 2, conversations: 2, messages: 4499, secrets: 0 });
      expect(target.countMessages()).toBe(4501);
      expect(target.getContact('c-alice')?.displayName).toBe('Local Alice');
      expect(target.getMessage('m-alice-0')?.text).toBe('local copy');
      expect(target.getConversation('v-alice')).toMatchObject({ unread: 7, lastActivity: 9_000 });
    } finally {
      target.lock();
    }
  });

  it('applies in steps: the event loop runs, progress arrives as it goes, other vault writes wait (BUSY)', async () => {
    const target = await newVault(join(tmp.dir, 'live'), { own: true });
    try {
      let ticks = 0;
      const ticker = setInterval(() => ticks++, 0);
      const apply: Array<{ done: number; ticks: number; outside: string }> = [];
      try {
        await importBackup(target, idFile, {
          keys: { identities: [keys.identity] },
          onProgress: (p) => {
            if (p.phase !== 'apply') return;
            let outside = 'written';
            try {
              target.kvSet('app', 'during-import', new Uint8Array([1]));
            } catch (e) {
              outside = (e as { code?: string }).code ?? String(e);
            }
            apply.push({ done: p.done, ticks, outside });
          },
        });
      } finally {
        clearInterval(ticker);
      }
      // one progress report per write step of APPEND_BATCH messages, the last one partial
      const steps = Array.from({ length: Math.ceil(4500 / APPEND_BATCH) }, (_, i) => Math.min(4500, (i + 1) * APPEND_BATCH));
      expect(apply.map((a) => a.done)).toEqual([0, ...steps, 4500]);
      // timers fired between the write steps, not only after the whole merge
      for (let i = 2; i <= steps.length; i++) expect((apply[i]?.ticks ?? 0) - (apply[i - 1]?.ticks ?? 0)).toBeGreaterThan(0);
      // before the merge's transaction opens and after it closes writes go on; while it is
      // open nothing else may write into it
      expect(apply.slice(0, steps.length + 1).map((a) => a.outside)).toEqual(['written', ...steps.map(() => 'BUSY')]);
      expect(apply[steps.length + 1]?.outside).toBe('written');
      expect(target.busy).toBe(false);
      expect(target.countMessages()).toBe(4500);
    } finally {
      target.lock();
    }
  });

  it('cancelled while applying: keeps nothing, and running it again completes it', async () => {
    const target = await newVault(join(tmp.dir, 'cancel-apply'), { own: true });
    try {
      const controller = new AbortController();
      const err = await importBackup(target, idFile, {
        keys: { identities: [keys.identity] },
        signal: controller.signal,
        onProgress: (p) => {
          if (p.phase === 'apply' && p.done >= 2000) controller.abort();
        },
      }).catch((e: unknown) => e);
      expect(errorCodeOf(err)).toBe('CANCELLED');
      expect(target.busy).toBe(false);
      expect(target.countMessages()).toBe(0);
      expect(target.listContacts()).toEqual([]);
      expect(target.listConversations()).toEqual([]);
      expect(target.changesSince(0, 10).upserts).toEqual([]);
      const again = await importBackup(target, idFile, { keys: { identities: [keys.identity] } });
      expect(again.added).toEqual({ contacts: 3, conversations: 3, messages: 4500, secrets: 0 });
      expect(history(target)).toEqual(history(source));
    } finally {
      target.lock();
    }
  });

  it('waits for the app\'s running activities before merging; cancelled while waiting, it keeps nothing', async () => {
    const target = await newVault(join(tmp.dir, 'cancel-waiting'), { own: true });
    try {
      let release!: () => void;
      const activity = target.activity(() => new Promise<void>((r) => (release = r)));
      const controller = new AbortController();
      const phases: string[] = [];
      const err = await importBackup(target, idFile, {
        keys: { identities: [keys.identity] },
        signal: controller.signal,
        onProgress: (p) => {
          phases.push(`${p.phase}:${p.done}`);
          // the merge is announced (0 done) and then waits for the activity: cancel it there
          if (p.phase === 'apply') setTimeout(() => controller.abort(), 20);
        },
      }).catch((e: unknown) => e);
      expect(errorCodeOf(err)).toBe('CANCELLED');
      expect(phases.filter((p) => p.startsWith('apply'))).toEqual(['apply:0']);
      expect(target.countMessages()).toBe(0);
      release();
      await activity;
      expect(target.busy).toBe(false);
    } finally {
      target.lock();
    }
  });

  it('an import interrupted while applying keeps nothing, and running it again completes it', async () => {
    const target = await newVault(join(tmp.dir, 'interrupted'), { own: true });
    try {
      // Stores part of the first append batch, then fails, as a full disk would.
      const failing = new Proxy(target, {
        get(t, prop, receiver) {
          if (prop === 'appendMessages') {
            return (batch: NewMessage[]) => {
              t.appendMessages(batch.slice(0, 1500));
              throw new Error('disk full (simulated)');
            };
          }
          const v = Reflect.get(t, prop, receiver) as unknown;
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
        },
      });
      await expect(importBackup(failing, passFile, { keys: { passphrase: PASS } })).rejects.toThrow('disk full');
      // One vault transaction: the 1500 rows appended before the failure were rolled back.
      expect(target.countMessages()).toBe(0);
      expect(target.listContacts()).toEqual([]);
      const again = await importBackup(target, passFile, { keys: { passphrase: PASS } });
      expect(target.countMessages()).toBe(4500);
      expect(again.added.messages).toBe(4500);
      expect(new Set(history(target).map((m) => m.id))).toEqual(new Set(history(source).map((m) => m.id)));
    } finally {
      target.lock();
    }
  });

  it('a stream encrypted by the age tool imports', async () => {
    const plain = ageRun(['-d', '-i', keys.identityFile, idFile]).stdout;
    const other = ageKeygen(tmp.dir, 'other.txt');
    const reencrypted = join(tmp.dir, 'by-age.age');
    ageEncryptToFile(plain, other.recipient, reencrypted);
    const target = await newVault(join(tmp.dir, 'from-age'), { own: true });
    try {
      const r = await importBackup(target, reencrypted, { keys: { identities: [other.identity] } });
      expect(r.added.messages).toBe(4500);
      expect(history(target)).toEqual(history(source));
    } finally {
      target.lock();
    }
  });

  it('the account identity travels only when asked, and never overwrites one', async () => {
    const withId = join(tmp.dir, 'with-identity.age');
    await exportBackup(source, withId, { keys: { recipients: [keys.recipient] }, identitySecretNames: ['e2e-identity-key-pair', 'absent-secret'] });
    const plain = ageRun(['-d', '-i', keys.identityFile, withId]).stdout.toString('utf8');
    expect(plain).toContain('"type":"account-secret","name":"e2e-identity-key-pair"');

    const fresh = await newVault(join(tmp.dir, 'id-fresh'));
    const mine = await newVault(join(tmp.dir, 'id-mine'));
    try {
      // Without restoring it, the profile has no identity: the signer is foreign, so it asks first.
      await expect(importBackup(fresh, withId, { keys: { identities: [keys.identity] } })).rejects.toMatchObject({ code: 'UNTRUSTED' });
      const notAsked = await importBackup(fresh, withId, { keys: { identities: [keys.identity] }, trustUnsigned: true });
      expect(notAsked.secretsSkipped).toEqual(['e2e-identity-key-pair']);
      expect(fresh.getAccountSecret('e2e-identity-key-pair')).toBeUndefined();
      // Restoring the identity that signed the file makes it this profile's own backup.
      const asked = await importBackup(fresh, withId, { keys: { identities: [keys.identity] }, restoreIdentity: true });
      expect(asked.signer.status).toBe('own');
      expect(asked.added.secrets).toBe(1);
      expect(Buffer.from(fresh.getAccountSecret('e2e-identity-key-pair')!)).toEqual(Buffer.from(IDENTITY));

      const theirs = IdentityKeyPair.generate().serialize();
      mine.setAccountSecret('e2e-identity-key-pair', theirs);
      const kept = await importBackup(mine, withId, { keys: { identities: [keys.identity] }, restoreIdentity: true, trustUnsigned: true });
      expect(kept.signer.status).toBe('foreign');
      expect(kept.secretsSkipped).toEqual(['e2e-identity-key-pair']);
      expect(Buffer.from(mine.getAccountSecret('e2e-identity-key-pair')!)).toEqual(Buffer.from(theirs));
    } finally {
      fresh.lock();
      mine.lock();
    }
  });

  it('restores only the identity secrets, and only from a backup that is its own: a confirmed forgery plants nothing', async () => {
    const planted = IdentityKeyPair.generate().serialize();
    const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');
    const counts = { contacts: 0, conversations: 0, messages: 0, secrets: 2 };
    const forged = join(tmp.dir, 'forged-secrets.age');
    const lines = [
      { type: 'header', format: 'ephemera-backup', version: 2, created: 1, counts, includesIdentity: true },
      { type: 'account-secret', name: 'e2e-identity-key-pair', value: b64(planted) },
      { type: 'account-secret', name: 'settings-override', value: b64(Buffer.from('anything')) },
      { type: 'end', counts },
    ];
    ageEncryptToFile(lines.map((l) => `${JSON.stringify(l)}\n`).join(''), keys.recipient, forged);
    // The same account's real backup, carrying one more secret name.
    const own = join(tmp.dir, 'own-with-extra.age');
    const extra = await newVault(join(tmp.dir, 'secrets-source'), { own: true });
    extra.setAccountSecret('settings-override', new Uint8Array([1]));
    await exportBackup(extra, own, { keys: { recipients: [keys.recipient] }, identitySecretNames: ['e2e-identity-key-pair', 'settings-override'] });
    extra.lock();

    const fresh = await newVault(join(tmp.dir, 'secrets-fresh'));
    try {
      // Unsigned, confirmed by the user, into a profile without an identity: nothing is restored.
      const r = await importBackup(fresh, forged, { keys: { identities: [keys.identity] }, restoreIdentity: true, trustUnsigned: true });
      expect(r.signer.status).toBe('unsigned');
      expect(r.added.secrets).toBe(0);
      expect(r.secretsSkipped).toEqual(['e2e-identity-key-pair', 'settings-override']);
      expect(fresh.getAccountSecret('e2e-identity-key-pair')).toBeUndefined();
      expect(fresh.getAccountSecret('settings-override')).toBeUndefined();
      // Signed by the identity it restores: the identity comes back, the other name does not.
      const mine = await importBackup(fresh, own, { keys: { identities: [keys.identity] }, restoreIdentity: true });
      expect(mine.signer.status).toBe('own');
      expect(mine.secretsSkipped).toEqual(['settings-override']);
      expect(Buffer.from(fresh.getAccountSecret('e2e-identity-key-pair')!)).toEqual(Buffer.from(IDENTITY));
      expect(fresh.getAccountSecret('settings-override')).toBeUndefined();
    } finally {
      fresh.lock();
    }
  });

  it('open read-only browses and searches the same content', async () => {
    const archive = await openBackup(passFile, { keys: { passphrase: PASS } });
    expect(archive.history('alice').messages).toHaveLength(1500);
    expect(archive.search('UNICODE 東京').length).toBe(3 * Math.ceil(1500 / 97));
  });

  it('refuses to write a record the reader would refuse (over 16 MiB), leaving no file', async () => {
    const dir = makeTempDir();
    const big = await newVault(join(dir.dir, 'big'));
    try {
      // Message texts are capped far below this (MAX_TEXT_CHARS); a contact's name is not.
      const huge = { id: 'huge', handle: 'huge', displayName: 'é'.repeat(9 * 1024 * 1024), identityChanged: false, createdAt: 1 };
      big.upsertContact(huge);
      const target = join(dir.dir, 'big.age');
      await expect(exportBackup(big, target, { keys: { recipients: [keys.recipient] } })).rejects.toMatchObject({ code: 'IO' });
      expect(readdirSync(dir.dir)).toEqual(['big']);
    } finally {
      big.lock();
      dir.cleanup();
    }
  });

  it('lines longer than the export buffer, and lines that straddle its end, arrive intact', async () => {
    const dir = makeTempDir();
    const wide = await newVault(join(dir.dir, 'wide'));
    const copy = await newVault(join(dir.dir, 'copy'));
    try {
      // A 1 MB account-secret line (over the 1 MiB buffer's third: written on its own; message
      // texts are capped far below that), then many message lines that fill the buffer unevenly.
      const blob = new Uint8Array(Buffer.alloc(750_000, 'wide secret'));
      wide.setAccountSecret('wide-blob', blob);
      const texts = ['東'.repeat(MAX_TEXT_CHARS), ...Array.from({ length: 120 }, (_, i) => `${'é'.repeat(10_000 + i * 191)} ${i}`), 'x'.repeat(MAX_TEXT_CHARS), 'tail'];
      const stored = wide.appendMessages(texts.map((text, i) => ({ id: `w-${i}`, conversationId: 'v', direction: 'in', sender: 's', sentAt: i, receivedAt: i, text, state: 'read' })));
      const file = join(dir.dir, 'wide.age');
      await exportBackup(wide, file, { keys: { recipients: [keys.recipient] }, identitySecretNames: ['wide-blob'] });
      const plain = ageRun(['-d', '-i', keys.identityFile, file]).stdout.toString('utf8');
      const lines = plain.trimEnd().split('\n').map((l) => JSON.parse(l) as { type: string; text?: string; value?: string });
      expect(lines.filter((l) => l.type === 'account-secret').map((l) => l.value)).toEqual([Buffer.from(blob).toString('base64')]);
      expect(lines.filter((l) => l.type === 'message').map((l) => l.text)).toEqual(texts);
      const r = await importBackup(copy, file, { keys: { identities: [keys.identity] }, restoreIdentity: true, trustUnsigned: true });
      expect(history(copy)).toEqual(stored.map(({ seq: _seq, ...m }) => m));
      // Read intact (above), but not restored: only the account identity secrets are.
      expect(r.secretsSkipped).toEqual(['wide-blob']);
      expect(copy.getAccountSecret('wide-blob')).toBeUndefined();
    } finally {
      wide.lock();
      copy.lock();
      dir.cleanup();
    }
  });

  it('cancelling an export leaves no file, partial or final', async () => {
    const dir = makeTempDir();
    try {
      const target = join(dir.dir, 'cancelled.age');
      const ac = new AbortController();
      const p = exportBackup(source, target, {
        keys: { recipients: [keys.recipient] },
        signal: ac.signal,
        onProgress: (pr) => {
          if (pr.done > 0) ac.abort();
        },
      });
      await expect(p).rejects.toMatchObject({ code: 'CANCELLED' });
      expect(existsSync(target)).toBe(false);
      expect(readdirSync(dir.dir)).toEqual([]);
    } finally {
      dir.cleanup();
    }
  });

  describe('each bad file: a clear typed error and the profile byte-identical', () => {
    let victim: Vault;
    let victimDir: string;
    const bad: Record<string, { file: string; keys: Parameters<typeof importBackup>[2]['keys']; code: string }> = {};
    beforeAll(async () => {
      victimDir = join(tmp.dir, 'victim');
      victim = await newVault(victimDir);
      fill(victim, 10);
      const bytes = readFileSync(idFile);
      const headerEnd = bytes.indexOf('\n', bytes.indexOf('\n---') + 1) + 1;
      const chunk = 64 * 1024 + 16;
      expect(bytes.length).toBeGreaterThan(headerEnd + 16 + 3 * chunk);
      const write = (name: string, b: Uint8Array): string => {
        const p = join(tmp.dir, name);
        writeFileSync(p, b);
        return p;
      };
      const flipped = (at: number): Buffer => {
        const c = Buffer.from(bytes);
        c[at] = (c[at] as number) ^ 0x20;
        return c;
      };
      const idKeys = { identities: [keys.identity] };
      const other = ageKeygen(tmp.dir, 'wrong.txt');
      bad['wrong passphrase'] = { file: passFile, keys: { passphrase: 'not it' }, code: 'WRONG_KEY' };
      bad['wrong identity'] = { file: idFile, keys: { identities: [other.identity] }, code: 'WRONG_KEY' };
      bad['truncated file'] = { file: write('trunc.age', bytes.subarray(0, bytes.length - 1000)), keys: idKeys, code: 'CORRUPT' };
      bad['truncated at a chunk boundary'] = { file: write('trunc2.age', bytes.subarray(0, headerEnd + 16 + 2 * chunk)), keys: idKeys, code: 'CORRUPT' };
      bad['flipped byte in the header'] = { file: write('flip-h.age', flipped(headerEnd - 5)), keys: idKeys, code: 'CORRUPT' };
      bad['flipped byte in a middle chunk'] = { file: write('flip-m.age', flipped(headerEnd + 16 + chunk + 100)), keys: idKeys, code: 'CORRUPT' };
      bad['flipped byte in the last chunk'] = { file: write('flip-l.age', flipped(bytes.length - 20)), keys: idKeys, code: 'CORRUPT' };
      const plain = ageRun(['-d', '-i', keys.identityFile, idFile]).stdout.toString('utf8');
      const lines = plain.split('\n');
      const malformed = [...lines.slice(0, 2000), '{"type":"message","id":', ...lines.slice(2000)].join('\n');
      const malformedFile = join(tmp.dir, 'malformed.age');
      ageEncryptToFile(malformed, keys.recipient, malformedFile);
      bad['valid age, malformed JSON line late in the stream'] = { file: malformedFile, keys: idKeys, code: 'MALFORMED' };
      const future = plain.replace('"version":2', '"version":7');
      const futureFile = join(tmp.dir, 'future.age');
      ageEncryptToFile(future, keys.recipient, futureFile);
      bad['unknown future format version'] = { file: futureFile, keys: idKeys, code: 'UNSUPPORTED_VERSION' };
      const passBytes = readFileSync(passFile).toString('latin1');
      bad['scrypt work factor above the ceiling'] = {
        file: write('wf.age', Buffer.from(passBytes.replace(/^(-> scrypt \S+) 10$/m, '$1 23'), 'latin1')),
        keys: { passphrase: PASS },
        code: 'BAD_PARAMETERS',
      };
      bad['a passphrase for an identity file'] = { file: idFile, keys: { passphrase: PASS }, code: 'BAD_PARAMETERS' };
    });
    afterAll(() => victim.lock());

    it('is refused and changes nothing', async () => {
      const count = victim.countMessages();
      // Hash after the last read: readers update SQLite's -shm read marks.
      const before = hashTree(victimDir);
      for (const [name, c] of Object.entries(bad)) {
        let code = 'no error';
        try {
          await importBackup(victim, c.file, { keys: c.keys });
        } catch (err) {
          code = errorCodeOf(err);
          expect((err as Error).message.length, name).toBeGreaterThan(10);
        }
        expect(code, name).toBe(c.code);
        expect(hashTree(victimDir), name).toEqual(before);
      }
      expect(victim.countMessages()).toBe(count);
      expect(Object.keys(bad)).toHaveLength(11);
    });
  });
});
