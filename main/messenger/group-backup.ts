// The profile's groups as main/backup sees them (docs/backup-format.md "Groups"): export writes
// each group's name and signed membership log; import puts back a group the profile does not
// hold, inside the import's one vault transaction, once its log checks out as a log (the
// backup layer only passes it from the profile's own signed backup). Our sender key chain starts
// afresh; the other members' chains are not in a backup, so the restored group is marked and,
// once the import committed, group-rejoin.ts hands our chain to every member and asks each for
// theirs (docs).
import type { BackupGroup, BackupGroupReceipts, GroupSource } from '../backup/groups.ts';
import type { ImportGroupSink } from '../backup/import.ts';
import { newDistributionId } from '../e2e/sender-keys.ts';
import type { Vault } from '../vault/index.ts';
import { changeHash, GroupChangeRefused, GroupLog, MAX_REPLAYED_CHANGES, parseGroupState, parseSignedChange } from './group-state.ts';
import { foldGroupReceipts, GROUP_SENT } from './group-receipt-log.ts';
import { RESTORED } from './group-rejoin.ts';
import { GROUPS, type GroupRecord } from './group-store.ts';
import { readKvJson, writeKvJson } from './kv-json.ts';

const read = (vault: Vault, id: string): GroupRecord | undefined => readKvJson(vault, GROUPS, id, { strict: true }) as GroupRecord | undefined;

export function groupSource(vault: Vault): GroupSource {
  // Receipts logged and not yet folded into their records go into the backup too.
  foldGroupReceipts(vault);
  return {
    groups: () =>
      vault.kvKeys(GROUPS).flatMap((id) => {
        const r = read(vault, id);
        return r ? [{ id, name: GroupLog.restore(r.log).state.name, log: r.log as unknown as Record<string, unknown> }] : [];
      }),
    hasReceipts: () => vault.kvKeys(GROUP_SENT).length > 0,
    receiptsOf: (messageId) => {
      const r = readKvJson(vault, GROUP_SENT, messageId, { strict: true }) as Omit<BackupGroupReceipts, 'messageId'> | undefined;
      if (!r) return undefined;
      return { messageId, groupId: r.groupId, to: r.to, delivered: r.delivered, read: r.read };
    },
  };
}

/**
 * The log of a backup line (import, and an opened backup's groups in backups.ts), rebuilt from its
 * start (the creation, or a joiner's snapshot) with every change checked as a member checks it and
 * the chain chosen once (GroupLog.replay: linear, since the line is the file's word and may be
 * crafted). Throws GroupChangeRefused when it is not a log: malformed, more than
 * MAX_REPLAYED_CHANGES changes, a start that is not its own change's state. A change refused on
 * the way is left out, as a member leaves it out.
 */
export function checkedLog(v: Record<string, unknown>): GroupLog {
  const { root, rootChange, changes } = v;
  if (!Array.isArray(changes) || changes.length > MAX_REPLAYED_CHANGES) throw new GroupChangeRefused('malformed');
  const first = parseSignedChange(rootChange);
  const start = parseGroupState(root);
  if (start.head !== changeHash(first) || start.groupId !== first.body.groupId) throw new GroupChangeRefused('invalid');
  // A creation is replayed as every member does; a joiner's snapshot is its own start.
  const log = first.body.op.type === 'create' ? GroupLog.create(first, () => true) : GroupLog.restore({ root: start, rootChange: first, changes: [] });
  if (JSON.stringify(log.state) !== JSON.stringify(start)) throw new GroupChangeRefused('invalid');
  log.replay(changes.map(parseSignedChange), () => true);
  return log;
}

/**
 * Why a group line is not put back, in words for the import's report (undefined: it checks out);
 * `log` is the rebuilt log when it does. A real group's log rarely passes MAX_REPLAYED_CHANGES (8
 * full turnovers of a full group), so that case is named with its numbers.
 */
export function groupLineProblem(g: BackupGroup): { reason: string } | { log: GroupLog } {
  const changes = g.log.changes;
  if (Array.isArray(changes) && changes.length > MAX_REPLAYED_CHANGES) {
    return { reason: `its membership log holds ${changes.length} changes, more than the ${MAX_REPLAYED_CHANGES} an import rebuilds` };
  }
  let log: GroupLog;
  try {
    log = checkedLog(g.log);
  } catch (e) {
    if (e instanceof GroupChangeRefused) return { reason: `its membership log does not check out (${e.reason})` };
    throw e;
  }
  if (log.groupId !== g.id) return { reason: 'its membership log is the log of another group' };
  if (log.state.name !== g.name) return { reason: 'its name is not the one its membership log ends with' };
  return { log };
}

export function groupSink(vault: Vault): ImportGroupSink {
  return {
    holds: (groupId) => read(vault, groupId) !== undefined,
    put: (g) => {
      if (read(vault, g.id)) return { restored: false, reason: 'this profile holds the group already (kept as it is)' };
      const checked = groupLineProblem(g);
      if ('reason' in checked) return { restored: false, reason: checked.reason };
      const record: GroupRecord = { log: checked.log.data(), dist: newDistributionId(), holders: [], chains: {} };
      writeKvJson(vault, GROUPS, g.id, record);
      vault.kvSet(RESTORED, g.id, new Uint8Array(0));
      return { restored: true };
    },
    // Only onto an own text of that group's conversation, and never over the receipts the profile keeps.
    putReceipts: (r) => {
      const m = vault.getMessage(r.messageId);
      if (m?.direction !== 'out' || m.conversationId !== `g${r.groupId}` || !read(vault, r.groupId) || vault.kvGet(GROUP_SENT, r.messageId)) return false;
      const record = { groupId: r.groupId, to: [...r.to].sort(), delivered: r.delivered, read: r.read };
      writeKvJson(vault, GROUP_SENT, r.messageId, record);
      return true;
    },
  };
}
