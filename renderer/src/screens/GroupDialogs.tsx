// Group chats (docs/ui.md "Groups"): the New group dialog and the group info panel. Everything
// goes through the contract's group calls; membership changes are signed in main.
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { MAX_GROUP_NAME_CHARS, type Contact, type GroupInfo } from '../../../shared/api.ts';
import { useApi } from '../api.ts';
import { Dialog } from '../components/Dialog.tsx';
import { useFormAction } from '../form-action.ts';
import { GroupTimerSetting, groupTimerNotice } from '../chat/GroupTimer.tsx';
import { allowAddNotice, GroupAllowAddSetting } from '../chat/GroupAllowAdd.tsx';

/** A name and members picked from the contacts (checkboxes: Tab and Space reach every one). */
export function NewGroupDialog({ contacts, onClose, onCreated }: { contacts: readonly Contact[]; onClose: () => void; onCreated: (g: GroupInfo) => void }) {
  const api = useApi();
  const [name, setName] = useState('');
  const [picked, setPicked] = useState<ReadonlySet<string>>(new Set());
  const nameRef = useRef<HTMLInputElement>(null);
  // After the dialog's showModal (a parent effect, run after this one's mount) took the focus.
  useEffect(() => {
    const t = window.setTimeout(() => nameRef.current?.focus(), 0);
    return () => window.clearTimeout(t);
  }, []);
  const { busy, error, setError, attempt } = useFormAction();
  async function submit(e: FormEvent) {
    e.preventDefault();
    setError('');
    if (name.trim() === '') return setError('Give the group a name.');
    if (picked.size === 0) return setError('Pick at least one member.');
    await attempt(async () => onCreated(await api.groupCreate({ name: name.trim(), members: [...picked] })));
  }
  return (
    <Dialog title="New group" onClose={onClose}>
      <form onSubmit={(e) => void submit(e)}>
        <div className="field">
          <label htmlFor="group-name">Group name</label>
          <input ref={nameRef} id="group-name" value={name} maxLength={MAX_GROUP_NAME_CHARS} onChange={(e) => setName(e.target.value)} autoComplete="off" />
        </div>
        <fieldset className="group-members">
          <legend>Members</legend>
          {contacts.length === 0 ? <p className="hint">Add contacts first.</p> : null}
          {contacts.map((c) => (
            <label key={c.id} className="check">
              <input
                type="checkbox"
                checked={picked.has(c.handle)}
                onChange={(e) => {
                  const next = new Set(picked);
                  if (e.target.checked) next.add(c.handle);
                  else next.delete(c.handle);
                  setPicked(next);
                }}
              />
              {c.displayName && c.displayName !== c.handle ? `${c.displayName} (@${c.handle})` : `@${c.handle}`}
            </label>
          ))}
        </fieldset>
        {error ? <p role="alert" className="error">{error}</p> : null}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Creating…' : 'Create group'}
        </button>
      </form>
    </Dialog>
  );
}

/** Members (verified mark for verified contacts, "unverified" for everyone else), admins, and the admin actions. */
export function GroupInfoDialog({
  group,
  self,
  contacts,
  onClose,
  onChanged,
  onSafetyNumber,
}: {
  group: GroupInfo;
  self: string;
  contacts: readonly Contact[];
  onClose: () => void;
  onChanged: (g: GroupInfo) => void;
  /** Opens a member's safety number (to compare and accept a changed one). */
  onSafetyNumber: (contactId: string) => void;
}) {
  const api = useApi();
  const [name, setName] = useState(group.name);
  const [adding, setAdding] = useState('');
  const [notice, setNotice] = useState('');
  const { busy, error, setError, attempt } = useFormAction();
  const isAdmin = group.isMember && group.admins.includes(self);
  const byHandle = new Map(contacts.map((c) => [c.handle, c]));
  const candidates = contacts.filter((c) => !group.members.includes(c.handle));

  async function run(what: () => Promise<GroupInfo>, done: string) {
    setError('');
    setNotice('');
    await attempt(async () => {
      onChanged(await what());
      setNotice(done);
    });
  }
  function rename(e: FormEvent) {
    e.preventDefault();
    if (name.trim() === '' || name.trim() === group.name) return;
    void run(() => api.groupRename({ groupId: group.groupId, name: name.trim() }), 'Renamed.');
  }
  function add(e: FormEvent) {
    e.preventDefault();
    if (!adding) return;
    void run(() => api.groupAdd({ groupId: group.groupId, handle: adding }), `Added ${adding}.`).then(() => setAdding(''));
  }

  return (
    <Dialog title={`Group info: ${group.name}`} onClose={onClose} wide>
      {isAdmin ? (
        <form className="inline-form" onSubmit={rename}>
          <label htmlFor="group-rename">Group name</label>
          <input id="group-rename" value={name} maxLength={MAX_GROUP_NAME_CHARS} onChange={(e) => setName(e.target.value)} autoComplete="off" />
          <button type="submit" disabled={busy}>
            Rename
          </button>
        </form>
      ) : null}
      {group.isMember ? (
        <GroupTimerSetting
          group={group}
          isAdmin={isAdmin}
          busy={busy}
          onSet={(seconds) => void run(() => api.groupSetTimer({ groupId: group.groupId, seconds }), groupTimerNotice(seconds))}
        />
      ) : null}
      {group.isMember ? (
        <GroupAllowAddSetting group={group} isAdmin={isAdmin} busy={busy} onSet={(on) => void run(() => api.groupAllowAdd({ groupId: group.groupId, on }), allowAddNotice(on))} />
      ) : null}
      <h3 id="group-members-title">
        {group.members.length} {group.members.length === 1 ? 'member' : 'members'}
      </h3>
      <ul className="group-member-list" aria-labelledby="group-members-title">
        {group.members.map((h) => {
          const contact = byHandle.get(h);
          const admin = group.admins.includes(h);
          return (
            <li key={h} className="group-member">
              <span className="member-name">
                {h === self ? `You (@${h})` : contact && contact.displayName !== h ? `${contact.displayName} (@${h})` : `@${h}`}
                {admin ? <span className="badge admin"> admin</span> : null}
                {h === self ? null : contact?.verified ? (
                  <span className="badge verified"> ✓ verified</span>
                ) : (
                  <span className="badge unverified" title={contact ? 'Safety number not verified' : 'Not one of your contacts'}> unverified</span>
                )}
              </span>
              {isAdmin && h !== self ? (
                <span className="member-actions">
                  {admin ? null : (
                    <button type="button" disabled={busy} onClick={() => void run(() => api.groupPromote({ groupId: group.groupId, handle: h }), `${h} is an admin now.`)}>
                      Make {h} an admin
                    </button>
                  )}
                  <button type="button" disabled={busy} onClick={() => void run(() => api.groupRemove({ groupId: group.groupId, handle: h }), `Removed ${h}.`)}>
                    Remove {h}
                  </button>
                </span>
              ) : null}
              {h !== self && contact?.identityChanged ? (
                // The member's identity key changed and is not accepted: main leaves them out of
                // this device's group sends (and new sender keys) until it is accepted.
                <span className="member-key-changed">
                  <span className="key-warning">Safety number changed: they get no new messages from you until you accept it.</span>
                  <button type="button" aria-label={`Review the safety number of ${h}`} onClick={() => onSafetyNumber(contact.id)}>
                    Review
                  </button>
                </span>
              ) : null}
            </li>
          );
        })}
      </ul>
      {(isAdmin || (group.isMember && group.membersCanAdd === true)) && candidates.length > 0 ? (
        <form className="inline-form" onSubmit={add}>
          <label htmlFor="group-add">Add a contact</label>
          <select id="group-add" value={adding} onChange={(e) => setAdding(e.target.value)}>
            <option value="">Choose…</option>
            {candidates.map((c) => (
              <option key={c.id} value={c.handle}>
                {c.displayName && c.displayName !== c.handle ? `${c.displayName} (@${c.handle})` : `@${c.handle}`}
              </option>
            ))}
          </select>
          <button type="submit" disabled={busy || !adding}>
            Add
          </button>
        </form>
      ) : null}
      {error ? <p role="alert" className="error">{error}</p> : null}
      <p role="status" className="hint">
        {notice}
      </p>
      {group.isMember ? (
        <button type="button" disabled={busy} onClick={() => void run(() => api.groupLeave({ groupId: group.groupId }), 'You left the group.')}>
          Leave group
        </button>
      ) : (
        <p className="hint">You are no longer a member of this group.</p>
      )}
    </Dialog>
  );
}
