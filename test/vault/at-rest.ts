// "At rest" for the byte scans of the tests: after the scrub that a lock started. The scrub
// (main/vault/scrub.ts) runs in a worker after lock() has resolved and rewrites vault.db and
// removes its WAL, so a scan while it runs can read a file it is replacing or miss one it removes.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { scrubbed } from '../../main/vault/scrub.ts';

/** Resolves once no scrub started in this process runs in any profile at or under `dir`. */
export async function atRest(dir: string): Promise<void> {
  if (existsSync(join(dir, 'vault.db'))) await scrubbed(dir);
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p, { throwIfNoEntry: false })?.isDirectory()) await atRest(p);
  }
}
