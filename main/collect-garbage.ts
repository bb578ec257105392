// A full garbage collection on lock. Some keys live in native objects that JS cannot zero: the
// permanent key's and the handshakes' OpenSSL key objects (node:crypto KeyObject). Their memory
// is cleansed when they are freed (OpenSSL clears private keys in its free functions), and they
// are freed only when the garbage collector finalizes them: any time later, or never. Lock
// drops every reference and then collects, so they are gone when lock returns.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gc: (() => void) | undefined;

function gcFunction(): () => void {
  if (gc) return gc;
  const exposed = (globalThis as { gc?: unknown }).gc;
  if (typeof exposed === 'function') {
    gc = exposed as () => void;
  } else {
    // V8 gives a new context a `gc` global while --expose-gc is set; turned off again at once.
    setFlagsFromString('--expose-gc');
    try {
      gc = runInNewContext('gc') as () => void;
    } finally {
      setFlagsFromString('--no-expose-gc');
    }
  }
  return gc;
}

/** Full collection; resolves after native finalizers (which run in a task after it) have run. */
export async function collectGarbage(): Promise<void> {
  const collect = gcFunction();
  collect();
  await new Promise((resolve) => setImmediate(resolve));
  // Objects freed by those finalizers' owners become garbage only now.
  collect();
  await new Promise((resolve) => setImmediate(resolve));
}
