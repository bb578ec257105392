// `ephemera search` in a real child process against a real vault.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Vault, TEST_KDF } from '../../main/vault/index.ts';
import { runCli } from '../cli/run.ts';
import { corpus, hexId, T0, DAY } from './corpus.ts';

const PASSWORD = 'cli search password 123';
let root: string;
let profile: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'ephemera-search-cli-'));
  profile = join(root, 'profile');
  const { vault } = await Vault.create(profile, PASSWORD, { kdf: TEST_KDF });
  const contacts = [
    { id: 'k-alpha', handle: 'alice', title: 'Alice Liddell', conv: 'alpha' },
    { id: 'k-beta', handle: 'bob', title: 'Bobby Tables', conv: 'beta' },
    { id: 'k-gamma', handle: 'carol', title: 'Bobby Tables', conv: 'gamma' }, // same title as beta: ambiguous
  ];
  for (const c of contacts) {
    vault.upsertContact({ id: c.id, handle: c.handle, displayName: c.title, identityChanged: false, createdAt: T0 });
    vault.upsertConversation({ id: c.conv, kind: 'direct', contactId: c.id, title: c.title, lastActivity: T0, unread: 0 });
  }
  vault.appendMessages(corpus());
  vault.appendMessages([{ ...corpus()[0]!, id: hexId(50), text: 'evil \u001b[31m zanzibarcafe \u001b[0m \u202etxt.exe', sentAt: T0 + 40 * DAY }]);
  vault.lock();
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function cli(args: string[], password = PASSWORD): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runCli(['--profile', profile, ...args], { EPHEMERA_PASSWORD: password });
}

interface JsonOut {
  ok: boolean;
  code?: string;
  results: { id: string; chat: string | null; snippet: { text: string; highlights: { start: number; end: number }[] } }[];
}

describe('ephemera search', () => {
  it('finds messages, newest first, with JSON snippets', async () => {
    const r = await cli(['--json', 'search', 'zanzibarcafe ']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as JsonOut;
    expect(out.ok).toBe(true);
    expect(out.results.map((x) => x.id)).toEqual([hexId(50), hexId(2), hexId(1)]);
    const first = out.results[1]!;
    expect(first.chat).toBe('Alice Liddell');
    expect(first.snippet.highlights.map((h) => first.snippet.text.slice(h.start, h.end))).toEqual(['ZANZIBARCAFE']);
  });

  it('filters by contact handle or chat title, and limits', async () => {
    const byTitle = JSON.parse((await cli(['--json', 'search', 'creme', '--chat', 'bob'])).stdout) as JsonOut;
    expect(byTitle.results.map((x) => x.id)).toEqual([hexId(4), hexId(3)]);
    const limited = JSON.parse((await cli(['--json', 'search', 'zanzibarcafe', '--chat', 'Alice Liddell', '--limit', '1'])).stdout) as JsonOut;
    expect(limited.results.map((x) => x.id)).toEqual([hexId(50)]);
  });

  it('filters by date', async () => {
    const r = JSON.parse((await cli(['--json', 'search', 'zanzibarcafe', '--from', '2025-01-02', '--to', '2025-01-02'])).stdout) as JsonOut;
    expect(r.results.map((x) => x.id)).toEqual([hexId(2)]);
  });

  it('human output marks matches and strips terminal control characters from message text', async () => {
    const r = await cli(['search', 'zanzibarcafe']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('[ZANZIBARCAFE]');
    expect(r.stdout).toContain('3 results.');
    expect(r.stdout).not.toContain('\u001b');
    expect(r.stdout).not.toContain('\u202e');
  });

  it('unknown or ambiguous chats and bad limits are usage errors (exit 2)', async () => {
    const unknown = await cli(['--json', 'search', 'x', '--chat', 'nobody']);
    expect(unknown.code).toBe(2);
    expect((JSON.parse(unknown.stdout) as JsonOut).code).toBe('NO_SUCH_CHAT');
    const ambiguous = await cli(['--json', 'search', 'x', '--chat', 'bobby tables']);
    expect(ambiguous.code).toBe(2);
    expect((JSON.parse(ambiguous.stdout) as JsonOut).code).toBe('AMBIGUOUS_CHAT');
    expect((await cli(['search', 'x', '--limit', '0'])).code).toBe(2);
    expect((await cli(['search', 'x', '--limit', 'lots'])).code).toBe(2);
    expect((await cli(['search', 'x', '--from', 'yesterday'])).code).toBe(2);
  });

  it('a wrong password exits 3 and prints nothing found', async () => {
    const res = await cli(['search', 'zanzibarcafe'], 'wrong password here');
    expect(res.code).toBe(3);
    expect(res.stdout).not.toContain('ZANZIBARCAFE');
  });
});
