// The purge after a deferred removal (SearchIndex.removeDeferred): the deleted messages' terms
// leave the FTS5 segments and their words the prefix lists of every part, in bounded steps
// (purgeStep) or in one blocking call (purgeAll).
import { PURGE_SQL, type Part } from './index-part.ts';

/** Where a purge (SearchIndex.purgeStep) stands between its steps. */
export interface PurgeCursor {
  phase: 'merge' | 'words';
  /** The part being merged or pruned. */
  part: number;
  /** The last word checked (phase 'words'). */
  after: string;
}

/** One step of the purge over `parts` (SearchIndex.purgeStep says what a step is); undefined when complete. */
export function purgeStep(parts: readonly Part[], cursor: PurgeCursor | undefined, pages: number, words: number): PurgeCursor | undefined {
  const c: PurgeCursor = cursor ?? { phase: 'merge', part: 0, after: '' };
  const part = parts[c.part];
  if (!part) return undefined;
  if (c.phase === 'merge') {
    const before = part.stmts.totalChanges.get() as number;
    part.stmts.merge.run(-Math.max(1, Math.floor(pages)));
    const after = part.stmts.totalChanges.get() as number;
    // FTS5's documented test: a merge that did no work changes fewer than two rows.
    if (after - before >= 2) return c;
    // A single segment is not rewritten by 'merge'; 'optimize' drops its deleted entries (cheap once merged).
    part.db.exec(PURGE_SQL.optimize);
    // Every part merged before any word is pruned (a merge alone, service.ts #mergeInSteps, stops at the words).
    return c.part + 1 < parts.length ? { phase: 'merge', part: c.part + 1, after: '' } : { phase: 'words', part: 0, after: '' };
  }
  const batch = part.stmts.wordsAfter.all(c.after, Math.max(1, Math.floor(words)));
  part.db.transaction(() => {
    for (const { term } of batch) if (!part.stmts.wordLive.get(term)) part.stmts.deleteWord.run(term);
  })();
  part.knownWords.clear();
  const last = batch[batch.length - 1];
  if (last !== undefined) return { phase: 'words', part: c.part, after: last.term };
  return c.part + 1 < parts.length ? { phase: 'words', part: c.part + 1, after: '' } : undefined;
}

/** The whole purge in one blocking call (one 'optimize' per part: cheaper in total than the steps). */
export function purgeAll(parts: readonly Part[]): void {
  for (const p of parts) {
    p.db.transaction(() => {
      p.db.exec(PURGE_SQL.optimize);
      p.stmts.pruneWords.run();
    })();
    p.knownWords.clear();
  }
}
