// The app process asks glibc's malloc for transparent huge pages (Linux). Unlocking a large
// history writes fresh memory in bulk: the search index's image and SQLite's copy of it (160 MB
// each at a million messages). With 4 KiB pages every first touch is a page fault, and in VMs
// those are slow: at 1M the restore's deserialize took 640-700 ms in one block without, 93-110 ms
// with (docs/search.md). glibc reads the tunable once, at exec, so it must be in the environment
// the process starts with: `npm start` re-executes itself with it (start.ts) and the benches start
// their app processes with it. Other systems ignore it (macOS, Windows, musl); a glibc older than
// 2.35 ignores an unknown tunable; THP set to "never" turns it off; a value the user set wins.

export const HUGE_PAGE_MALLOC_TUNABLE = 'glibc.malloc.hugetlb=1';

/** `env` with the tunable added on Linux, or `env` itself when nothing needs to change. */
export function withHugePageMalloc(env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): NodeJS.ProcessEnv {
  if (platform !== 'linux') return env;
  const current = env.GLIBC_TUNABLES ?? '';
  const tunables = current.split(':').filter((t) => t !== '');
  if (tunables.some((t) => t.startsWith('glibc.malloc.hugetlb='))) return env;
  return { ...env, GLIBC_TUNABLES: [...tunables, HUGE_PAGE_MALLOC_TUNABLE].join(':') };
}
