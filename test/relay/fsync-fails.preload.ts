// Loaded into a relay child process (EPHEMERA_RELAY_NODE_ARGS="--import tsx --import <this>"):
// every FileHandle fsync fails with EIO, as a dying disk's would. The in-process injector
// (./relay-wal-faults.ts) mocks node:fs/promises through vitest, which a child process has not.
import { open } from 'node:fs/promises';

const probe = await open(process.execPath, 'r');
const proto = Object.getPrototypeOf(probe) as { sync: () => Promise<void> };
await probe.close();
proto.sync = () => Promise.reject(Object.assign(new Error('EIO: i/o error, fsync (test)'), { code: 'EIO' }));
