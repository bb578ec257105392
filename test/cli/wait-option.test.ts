// Every command's --wait takes the same value (cli/client.ts waitSeconds): a number of seconds
// up to an hour. A bad value is a usage error (exit 2) before any password or profile is read.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './run.ts';

const profile = mkdtempSync(join(tmpdir(), 'ephemera-wait-'));
const commands = [
  ['send', 'bob', 'hi'],
  ['send-file', 'bob', '/nonexistent'],
  ['group', 'leave', '0'.repeat(32)],
];

describe('--wait', () => {
  afterAll(() => rmSync(profile, { recursive: true, force: true }));

  it.each(commands)('%s refuses a value that is not a number of seconds up to 3600', async (...command) => {
    for (const [value, why] of [['soon', 'must be a number of seconds'], ['3601', 'at most 3600 seconds'], ['-1', 'must be a number of seconds']] as const) {
      const r = await runCli(['--profile', profile, ...command, '--wait', value]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(why);
    }
  });
});
