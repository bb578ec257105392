import { describe, expect, it } from 'vitest';
import { importLosses, SKIPPED_GROUPS_NAMED } from '../../renderer/src/import-losses.ts';

const links = (dropped: number) => ({ restored: 0, dropped, droppedLinks: [] });
const group = (n: number, reason: string) => ({ groupId: `g${n}`.padEnd(8, '0'), name: `Group ${n}`, reason });

describe('importLosses (Settings import message)', () => {
  it('says nothing when nothing was left out, and nothing for groups the profile already holds', () => {
    expect(importLosses({ groupsSkipped: [], replyLinks: links(0) })).toBe('');
    expect(importLosses({ groupsSkipped: [group(1, 'this profile holds the group already (kept as it is)')], replyLinks: links(0) })).toBe('');
  });

  it('names each group not restored with its reason, then counts the rest', () => {
    const reason = 'its membership log holds 4097 changes, more than the 4096 an import rebuilds';
    expect(importLosses({ groupsSkipped: [group(1, reason)], replyLinks: links(0) })).toBe(` Group "Group 1" not restored: ${reason}.`);
    const many = Array.from({ length: SKIPPED_GROUPS_NAMED + 2 }, (_, i) => group(i, 'bad'));
    const text = importLosses({ groupsSkipped: many, replyLinks: links(0) });
    expect(text.match(/not restored: bad\./g)).toHaveLength(SKIPPED_GROUPS_NAMED);
    expect(text).toContain(' 2 more groups not restored.');
    expect(text).not.toContain(`Group ${SKIPPED_GROUPS_NAMED}"`);
  });

  it('counts dropped reply links', () => {
    expect(importLosses({ groupsSkipped: [], replyLinks: links(1) })).toContain(' 1 reply link dropped');
    expect(importLosses({ groupsSkipped: [], replyLinks: links(7) })).toContain(' 7 reply links dropped');
  });
});
