// The receivers of bench/groups.ts, in a child process of their own so that the sender's CPU is
// its process's alone. Opens the given profiles, counts per receiver the group texts stored
// (`group` events: one per stored text while no membership changes) and the 1:1 texts stored
// (`message` events of incoming messages), and prints the smallest of each over all receivers as
// a JSON line whenever it changes. Commands on stdin, one a line: `reset` (counts to zero, then
// `{"reset":true}`), `close`.
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { openMessenger, type Messenger } from '../main/messenger.ts';
import { TEST_KDF } from '../main/vault/index.ts';

export interface ReceiversConfig {
  root: string;
  handles: string[];
  password: string;
}

const print = (o: unknown): void => {
  process.stdout.write(`${JSON.stringify(o)}\n`);
};

async function run(cfg: ReceiversConfig): Promise<void> {
  const counts = cfg.handles.map(() => ({ group: 0, direct: 0 }));
  const receivers: Messenger[] = [];
  for (const [i, h] of cfg.handles.entries()) {
    const m = await openMessenger({ profileDir: join(cfg.root, h), kdf: TEST_KDF });
    m.subscribe((e) => {
      if (e.name === 'group') counts[i]!.group++;
      else if (e.name === 'message' && e.payload.direction === 'in') counts[i]!.direct++;
    });
    await m.unlock({ password: cfg.password });
    receivers.push(m);
  }
  print({ opened: receivers.length });
  let last = '';
  const timer = setInterval(() => {
    const line = JSON.stringify({ group: Math.min(...counts.map((c) => c.group)), direct: Math.min(...counts.map((c) => c.direct)) });
    if (line !== last) process.stdout.write(`${line}\n`);
    last = line;
  }, 20);
  for await (const cmd of createInterface({ input: process.stdin })) {
    if (cmd === 'reset') {
      for (const c of counts) c.group = c.direct = 0;
      last = '';
      print({ reset: true });
    } else if (cmd === 'close') break;
  }
  clearInterval(timer);
  for (const m of receivers) await m.close();
}

if (process.env['EPHEMERA_BENCH_GROUP_RECEIVERS']) {
  await run(JSON.parse(process.env['EPHEMERA_BENCH_GROUP_RECEIVERS']) as ReceiversConfig);
  process.exit(0);
}
