// `npm run bench -- NAME [--quick]`: runs bench/NAME.ts, which prints JSON lines.
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';
import type { BenchMain } from './report.ts';

const here = dirname(fileURLToPath(import.meta.url));
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { quick: { type: 'boolean', default: false } },
});
const name = positionals[0];
if (!name || !/^[a-z0-9-]+$/.test(name)) {
  process.stderr.write('usage: npm run bench -- NAME [--quick]\n');
  process.exit(2);
}
const file = join(here, `${name}.ts`);
if (!existsSync(file)) {
  process.stderr.write(`no benchmark named ${name} (expected bench/${name}.ts)\n`);
  process.exit(2);
}
const mod = (await import(pathToFileURL(file).href)) as { main: BenchMain };
await mod.main({ quick: values.quick ?? false });
