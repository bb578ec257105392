// Runs Electronegativity over the Electron shell and fails on any HIGH or MEDIUM finding that is
// not listed, with a reason, in scripts/electronegativity-accepted.json. Electronegativity itself
// always exits 0, so this script reads its CSV. An accepted entry that no longer matches a
// finding also fails, so the list cannot go stale.
//   tsx scripts/electronegativity.ts
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';

const ROOT = path.resolve(import.meta.dirname, '..');
const VERSION = '1.10.3';

const Accepted = z.array(z.strictObject({ issue: z.string(), file: z.string(), sample: z.string(), reason: z.string().min(20) }));

export interface Finding {
  issue: string;
  severity: string;
  confidence: string;
  file: string;
  location: string;
  sample: string;
}

/** Parses Electronegativity's CSV (quoted fields, commas inside quotes). */
export function parseCsv(text: string): Finding[] {
  const rows: string[][] = [];
  for (const line of text.split(/\r?\n/)) {
    if (!line.trim()) continue;
    const cells: string[] = [];
    let cur = '';
    let quoted = false;
    for (let i = 0; i < line.length; i++) {
      const c = line[i]!;
      if (quoted) {
        if (c === '"' && line[i + 1] === '"') {
          cur += '"';
          i++;
        } else if (c === '"') quoted = false;
        else cur += c;
      } else if (c === '"') quoted = true;
      else if (c === ',') {
        cells.push(cur.trim());
        cur = '';
      }
      else cur += c;
    }
    cells.push(cur.trim());
    rows.push(cells);
  }
  const [header, ...body] = rows;
  if (!header || header[0] !== 'issue') throw new Error('unexpected Electronegativity output');
  return body.map((r) => ({ issue: r[0] ?? '', severity: r[1] ?? '', confidence: r[2] ?? '', file: r[3] ?? '', location: r[4] ?? '', sample: r[5] ?? '' }));
}

/** Findings name files in various ways (absolute, relative, staged); keep the part from main/ or renderer/ on. */
export function repoRelative(file: string): string {
  const norm = file.split(path.sep).join('/');
  const at = norm.search(/(^|\/)(main\/app|renderer)\//);
  return at < 0 ? norm : norm.slice(norm[at] === '/' ? at + 1 : at);
}

/**
 * Electronegativity lives in its own tree (tools/electronegativity, with its own lockfile): it
 * relies on an old hoisted `commander` that would clash with the app's. Installed from that
 * lockfile on first use.
 */
function toolBinary(): string {
  const toolDir = path.join(ROOT, 'tools', 'electronegativity');
  const bin = path.join(toolDir, 'node_modules', '.bin', process.platform === 'win32' ? 'electronegativity.cmd' : 'electronegativity');
  if (!fs.existsSync(bin)) {
    process.stderr.write(`installing Electronegativity ${VERSION} into tools/electronegativity (npm ci, from its lockfile)\n`);
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const install = spawnSync(npm, ['ci', '--no-audit', '--no-fund', '--prefix', toolDir], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 600_000 });
    if (install.status !== 0 || !fs.existsSync(bin)) {
      process.stderr.write('could not install Electronegativity: run `npm ci --prefix tools/electronegativity`\n');
      process.exit(1);
    }
  }
  return bin;
}

function main(): void {
  // Scan a staging copy: the shell, the page it loads, and package.json (for the Electron version).
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'ephemera-eneg-'));
  try {
    fs.cpSync(path.join(ROOT, 'main', 'app'), path.join(stage, 'main', 'app'), { recursive: true });
    fs.mkdirSync(path.join(stage, 'renderer'));
    fs.copyFileSync(path.join(ROOT, 'renderer', 'index.html'), path.join(stage, 'renderer', 'index.html'));
    fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(stage, 'package.json'));
    const csv = path.join(stage, 'report.csv');
    const run = spawnSync(toolBinary(), ['-i', stage, '-o', csv, '-r'], { encoding: 'utf8', timeout: 600_000 });
    if (!fs.existsSync(csv)) {
      process.stderr.write(`electronegativity did not run: ${run.error?.message ?? run.stderr.slice(-2000)}\n`);
      process.exit(1);
    }
    const findings = parseCsv(fs.readFileSync(csv, 'utf8')).map((f) => ({ ...f, file: repoRelative(f.file) }));
    const accepted = Accepted.parse(JSON.parse(fs.readFileSync(path.join(import.meta.dirname, 'electronegativity-accepted.json'), 'utf8')));
    const matches = (a: z.infer<typeof Accepted>[number], f: Finding) => a.issue === f.issue && a.file === f.file && f.sample.includes(a.sample);
    const serious = findings.filter((f) => f.severity === 'HIGH' || f.severity === 'MEDIUM');
    const unaccepted = serious.filter((f) => !accepted.some((a) => matches(a, f)));
    const stale = accepted.filter((a) => !serious.some((f) => matches(a, f)));
    for (const f of findings) process.stderr.write(`${f.severity.padEnd(13)} ${f.issue} ${f.file}:${f.location}\n`);
    if (unaccepted.length > 0 || stale.length > 0) {
      for (const f of unaccepted) process.stderr.write(`FAIL: ${f.severity} ${f.issue} at ${f.file}:${f.location}: ${f.sample}\n`);
      for (const a of stale) process.stderr.write(`FAIL: accepted entry no longer matches any finding: ${a.issue} in ${a.file}\n`);
      process.exit(1);
    }
    process.stderr.write(`electronegativity: no unaccepted HIGH or MEDIUM findings (${findings.length} findings, ${accepted.length} accepted with reasons)\n`);
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) main();
