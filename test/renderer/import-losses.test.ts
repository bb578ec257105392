import { describe, expect, it } from 'vitest';
import { importLosses, SKIPPED_GROUPS_NAMED } from '../../renderer/src/import-losses.ts';

const links = (dropped: number) => ({ restored: 0, dropped, droppedLinks: [] });
const group = (n: number, reason: string) => ({ groupId: `g${n}`.padEnd(8, '0'), name: `Group ${n}`, reason });
const listed = (groups: ReturnType<typeof group>[], total = groups.length) => ({ groupsSkipped: groups, groupsSkippedTotal: total });

describe('importLosses (Settings import message)', () => {
  it('says nothing when nothing was left out (groups the profile already holds are only counted in the summary)', () => {
    expect(importLosses({ ...listed([]), replyLinks: links(0) })).toBe('');
  });

  it('names each group not restored with its reason, then counts the rest', () => {
    const reason = 'its membership log holds 4097 changes, more than the 4096 an import rebuilds';
    expect(importLosses({ ...listed([group(1, reason)]), replyLinks: links(0) })).toBe(` Group "Group 1" not restored: ${reason}.`);
    const many = Array.from({ length: SKIPPED_GROUPS_NAMED + 2 }, (_, i) => group(i, 'bad'));
    const text = importLosses({ ...listed(many), replyLinks: links(0) });
    expect(text.match(/not restored: bad\./g)).toHaveLength(SKIPPED_GROUPS_NAMED);
    expect(text).toContain(' 2 more groups not restored.');
    expect(text).not.toContain(`Group ${SKIPPED_GROUPS_NAMED}"`);
  });

  it('counts the groups past the listed ones from the total', () => {
    const few = Array.from({ length: SKIPPED_GROUPS_NAMED }, (_, i) => group(i, 'bad'));
    // The summary lists at most MAX_SKIPPED_GROUPS_LISTED; the total counts every group not restored.
    expect(importLosses({ ...listed(few, 5000), replyLinks: links(0) })).toContain(` ${5000 - SKIPPED_GROUPS_NAMED} more groups not restored.`);
    expect(importLosses({ ...listed(few, SKIPPED_GROUPS_NAMED + 1), replyLinks: links(0) })).toContain(' 1 more group not restored.');
  });

  it('counts dropped reply links', () => {
    expect(importLosses({ ...listed([]), replyLinks: links(1) })).toContain(' 1 reply link dropped');
    expect(importLosses({ ...listed([]), replyLinks: links(7) })).toContain(' 7 reply links dropped');
  });
});
