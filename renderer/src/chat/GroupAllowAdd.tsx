// "Every member may add" in a group's info panel (docs/ui.md "Groups"): admins switch it with a
// checkbox (Tab, Space; groupAllowAdd, a signed admin change every member applies); other members
// see it as text when on, and then get the panel's "Add a contact" form too.
import type { GroupInfo } from '../../../shared/api.ts';

export function GroupAllowAddSetting({ group, isAdmin, busy, onSet }: { group: GroupInfo; isAdmin: boolean; busy: boolean; onSet: (on: boolean) => void }) {
  const on = group.membersCanAdd === true;
  if (!isAdmin) return on ? <p className="group-setting-state">Every member may add members.</p> : null;
  return (
    <label className="check group-allow-add">
      <input type="checkbox" checked={on} disabled={busy} onChange={(e) => onSet(e.target.checked)} />
      Every member may add members
    </label>
  );
}

/** What the info panel's status line says after a change. */
export function allowAddNotice(on: boolean): string {
  return on ? 'Every member may add members now.' : 'Only admins may add members now.';
}
