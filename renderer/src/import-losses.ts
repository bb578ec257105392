// What an import left out, in words for the Settings message: the groups it did not restore
// (other than those the profile already holds) and the reply links it dropped. The CLI prints the
// same facts (cli/commands/backup.ts); the full lists stay in the API's ImportSummary.
import type { ImportSummary } from '../../shared/api.ts';

/** Groups named in the message before "and N more". */
export const SKIPPED_GROUPS_NAMED = 3;

/** Text appended to "Imported N new messages…"; '' when nothing was left out. */
export function importLosses(r: Pick<ImportSummary, 'groupsSkipped' | 'replyLinks'>): string {
  // A group the profile already holds is kept as it is: nothing was lost.
  const lost = r.groupsSkipped.filter((g) => !g.reason.startsWith('this profile holds'));
  let text = lost
    .slice(0, SKIPPED_GROUPS_NAMED)
    .map((g) => ` Group "${g.name}" not restored: ${g.reason}.`)
    .join('');
  if (lost.length > SKIPPED_GROUPS_NAMED) text += ` ${lost.length - SKIPPED_GROUPS_NAMED} more groups not restored.`;
  const dropped = r.replyLinks.dropped;
  if (dropped > 0) text += ` ${dropped} reply ${dropped === 1 ? 'link' : 'links'} dropped (the quoted message is not in the backup or this profile).`;
  return text;
}
