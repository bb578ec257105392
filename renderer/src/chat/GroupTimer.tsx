// A group's disappearing-message timer in its info panel (docs/ui.md "Groups"): an admin picks
// the duration from a labelled list and sets it with a button (Tab, arrows, Enter); everyone else
// sees what it is. The change is a signed admin change (groupSetTimer): every member applies it
// and shows it as a line in the chat.
import { useEffect, useState, type FormEvent } from 'react';
import type { GroupInfo } from '../../../shared/api.ts';
import { DISAPPEARING_SECONDS, disappearingLabel } from '../../../shared/api/disappearing.ts';

/** "off", or the duration ("1 hour"). */
export function groupTimerLabel(group: Pick<GroupInfo, 'timerSeconds'>): string {
  return group.timerSeconds ? disappearingLabel(group.timerSeconds) : 'off';
}

export function GroupTimerSetting({ group, isAdmin, busy, onSet }: { group: GroupInfo; isAdmin: boolean; busy: boolean; onSet: (seconds: number) => void }) {
  const current = group.timerSeconds ?? 0;
  const [chosen, setChosen] = useState(current);
  // Another admin's change arrives while the panel is open: show it.
  useEffect(() => setChosen(current), [current]);
  if (!isAdmin) {
    return <p className="group-timer-state">Disappearing messages: {groupTimerLabel(group)}</p>;
  }
  function submit(e: FormEvent) {
    e.preventDefault();
    if (chosen !== current) onSet(chosen);
  }
  return (
    <form className="inline-form" onSubmit={submit}>
      <label htmlFor="group-timer">Disappearing messages</label>
      <select id="group-timer" value={chosen} onChange={(e) => setChosen(Number(e.target.value))}>
        {DISAPPEARING_SECONDS.map((s) => (
          <option key={s} value={s}>
            {s === 0 ? 'Off' : disappearingLabel(s)}
          </option>
        ))}
      </select>
      <button type="submit" disabled={busy || chosen === current}>
        Set timer
      </button>
    </form>
  );
}

/** What the info panel's status line says after a change. */
export function groupTimerNotice(seconds: number): string {
  return seconds === 0 ? 'Disappearing messages are off.' : `Messages now disappear after ${disappearingLabel(seconds)}.`;
}
