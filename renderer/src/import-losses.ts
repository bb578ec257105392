// What an import left out, in words for the Settings message: the groups it did not restore and
// the reply links it dropped. Groups the profile already holds are kept as they are, so they are
// no loss (the summary counts them apart, groupsAlreadyHere). The CLI prints the same facts
// (cli/commands/backup.ts); the listed groups and named links stay in the API's ImportSummary.
import type { ImportSummary } from '../../shared/api.ts';

/** Groups named in the message before "and N more". */
export const SKIPPED_GROUPS_NAMED = 3;

/** Text appended to "Imported N new messages…"; '' when nothing was left out. */
export function importLosses(r: Pick<ImportSummary, 'groupsSkipped' | 'groupsSkippedTotal' | 'replyLinks'>): string {
  let text = r.groupsSkipped
    .slice(0, SKIPPED_GROUPS_NAMED)
    .map((g) => ` Group "${g.name}" not restored: ${g.reason}.`)
    .join('');
  // The total, not the list: the list stops at MAX_SKIPPED_GROUPS_LISTED.
  const more = Math.max(r.groupsSkippedTotal, r.groupsSkipped.length) - Math.min(r.groupsSkipped.length, SKIPPED_GROUPS_NAMED);
  if (more > 0) text += ` ${more} more ${more === 1 ? 'group' : 'groups'} not restored.`;
  const dropped = r.replyLinks.dropped;
  if (dropped > 0) text += ` ${dropped} reply ${dropped === 1 ? 'link' : 'links'} dropped (${dropped === 1 ? 'that message shows' : 'those messages show'} no quote from the backup).`;
  return text;
}
