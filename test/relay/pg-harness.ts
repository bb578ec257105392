// A throwaway PostgreSQL server for tests: initdb in a temp dir, loopback TCP on a free port
// (and its Unix socket in the same temp dir), trust auth, stopped by pid at the end. Missing
// server binaries are a failure with a clear message, never a skip.
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { MIGRATIONS } from '../../relay/store-pg.ts';

export interface TestPostgres {
  /** postgres://… for database `db` (default: postgres). */
  url(db?: string): string;
  /** A new empty database; returns its URL. */
  createDatabase(): Promise<string>;
  /** Fast shutdown and start again on the same port and data. */
  restart(): Promise<void>;
  /** Fast shutdown only (clients disconnected); `up` starts it again on the same port and data. */
  down(): Promise<void>;
  up(): void;
  /** pg_dump of a database (every table's rows, as text/bytea hex and plain). */
  dump(db: string): Buffer;
  /** The server's data directory (for byte scans). */
  readonly dataDir: string;
  stop(): Promise<void>;
}

function binDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a)) : [];
  if (versions.length === 0) {
    throw new Error('PostgreSQL server binaries not found (no /usr/lib/postgresql/<version>/bin/initdb): install Debian\'s `postgresql` package (.ci/run does)');
  }
  return join(root, versions[0]!, 'bin');
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

const asRoot = process.getuid?.() === 0;

/** Runs a PostgreSQL tool; as root through `runuser -u postgres` (the server refuses to run as root). */
function tool(bin: string, name: string, args: string[], input?: string): Buffer {
  const cmd = asRoot ? 'runuser' : join(bin, name);
  const full = asRoot ? ['-u', 'postgres', '--', join(bin, name), ...args] : args;
  const r = spawnSync(cmd, full, { input, maxBuffer: 512 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`${name} failed (${r.status ?? r.signal}): ${r.stderr.toString().slice(0, 2000)}`);
  return r.stdout;
}

export async function startPostgres(): Promise<TestPostgres> {
  const bin = binDir();
  const root = mkdtempSync(join(tmpdir(), 'ephemera-pg-'));
  const dataDir = join(root, 'data');
  if (asRoot) chownSync(root, uidOf('postgres'), gidOf('postgres'));
  tool(bin, 'initdb', ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8']);
  const port = await freePort();
  const log = join(root, 'server.log');
  const start = (): void => {
    tool(bin, 'pg_ctl', ['start', '-w', '-t', '60', '-D', dataDir, '-l', log, '-o', `-k ${root} -c listen_addresses=127.0.0.1 -p ${port} -c fsync=off -c max_connections=200`]);
  };
  const pid = (): number | undefined => {
    const f = join(dataDir, 'postmaster.pid');
    if (!existsSync(f)) return undefined;
    const n = Number(readFileSync(f, 'utf8').split('\n')[0]);
    return Number.isInteger(n) && n > 0 ? n : undefined;
  };
  const halt = async (): Promise<void> => {
    const p = pid();
    if (p === undefined) return;
    // SIGINT: fast shutdown (clients disconnected, no waiting for them).
    try { process.kill(p, 'SIGINT'); } catch { return; }
    const end = Date.now() + 60_000;
    while (Date.now() < end) {
      try { process.kill(p, 0); } catch { return; }
      await new Promise((r) => setTimeout(r, 50));
    }
    process.kill(p, 'SIGKILL');
  };
  start();
  const url = (db = 'postgres'): string => `postgres://postgres@127.0.0.1:${port}/${db}`;
  let n = 0;
  return {
    dataDir,
    url,
    async createDatabase() {
      const name = `t${process.pid}_${++n}`;
      const c = new pg.Client({ connectionString: url() });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE ${name}`);
      } finally {
        await c.end();
      }
      return url(name);
    },
    async restart() {
      await halt();
      start();
    },
    down: halt,
    up: start,
    dump(db) {
      return tool(bin, 'pg_dump', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '--data-only', '--inserts', db]);
    },
    async stop() {
      await halt();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

function uidOf(user: string): number {
  return Number(execFileSync('id', ['-u', user]).toString().trim());
}

function gidOf(user: string): number {
  return Number(execFileSync('id', ['-g', user]).toString().trim());
}

/**
 * A new database left as a node of schema `version` left it (its migrations applied and recorded),
 * with a connected client the caller ends: for the tests of a later migration's upgrade path.
 */
export async function databaseAtSchema(server: TestPostgres, version: number): Promise<{ url: string; client: pg.Client }> {
  const url = await server.createDatabase();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('CREATE TABLE ephemera_schema (version integer PRIMARY KEY, applied_at bigint NOT NULL)');
    for (const m of MIGRATIONS.filter((x) => x.version <= version)) {
      await client.query(m.sql);
      await client.query('INSERT INTO ephemera_schema VALUES ($1, 0)', [m.version]);
    }
  } catch (err) {
    await client.end();
    throw err;
  }
  return { url, client };
}
