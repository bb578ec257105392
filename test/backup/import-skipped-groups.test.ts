// The import report's groups (review s16 R3): a file of many group lines is reported with the
// first MAX_SKIPPED_GROUPS_LISTED listed and every one counted, so the import keeps no memory per
// group line beyond the cap; a group the profile holds already is counted apart (kept as it is,
// not a loss) instead of listed. A real vault, a real age file, the messenger's BackupJobs and sinks.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { apiMethods, MAX_SKIPPED_GROUPS_LISTED } from '../../shared/api.ts';
import { BackupJobs } from '../../main/messenger/backups.ts';
import { creationBody, GroupLog, sign } from '../../main/messenger/group-state.ts';
import { GROUPS, type GroupRecord } from '../../main/messenger/group-store.ts';
import { writeKvJson } from '../../main/messenger/kv-json.ts';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import { ageKeygen, ageRun, makeTempDir } from './helpers.ts';

const tmp = makeTempDir('ephemera-skipped-groups-');
afterAll(() => tmp.cleanup());

/** An unsigned version-4 file holding one group line per id, encrypted to a fresh age identity. */
function groupsFile(ids: readonly string[]): { path: string; identityFile: string } {
  const counts = { contacts: 0, conversations: 0, messages: 0, secrets: 0, groups: ids.length };
  const lines = [
    JSON.stringify({ type: 'header', format: 'ephemera-backup', version: 4, created: 1, counts, includesIdentity: false }),
    ...ids.map((id, i) => JSON.stringify({ type: 'group', id, name: `Group ${i}`, log: {} })),
    JSON.stringify({ type: 'end', counts }),
  ];
  const keys = ageKeygen(tmp.dir, 'id.txt');
  const plain = join(tmp.dir, 'groups.jsonl');
  writeFileSync(plain, `${lines.join('\n')}\n`);
  const path = join(tmp.dir, 'groups.age');
  const r = ageRun(['-r', keys.recipient, '-o', path, plain]);
  expect(r.status, r.stderr).toBe(0);
  return { path, identityFile: keys.identityFile };
}

describe('an import of a file with more group lines than the report lists', () => {
  it('lists the first MAX_SKIPPED_GROUPS_LISTED, counts them all, and counts the group the profile holds apart', async () => {
    const { vault } = await Vault.create(join(tmp.dir, 'profile'), 'vault password 123', { kdf: TEST_KDF });
    try {
      // A group this profile holds (its record as the messenger stores it).
      const creation = sign(creationBody('alice', 'Held', ['alice', 'bob']), () => new Uint8Array(64).fill(7));
      const heldId = creation.body.groupId;
      const record: GroupRecord = { log: GroupLog.create(creation, () => true).data(), dist: 'd'.repeat(32), holders: [], chains: {} };
      writeKvJson(vault, GROUPS, heldId, record);

      const extra = 7;
      const ids = Array.from({ length: MAX_SKIPPED_GROUPS_LISTED + extra }, (_, i) => i.toString(16).padStart(32, '0'));
      // The held group's line comes first: it must not take a place in the list.
      const file = groupsFile([heldId, ...ids]);
      const jobs = new BackupJobs(() => {});
      const summary = apiMethods.backupImport.result.parse(
        await jobs.import(vault, { jobId: 'import-groups', path: file.path, key: { kind: 'identityFile', path: file.identityFile }, trustUnsigned: true }),
      );
      expect(summary.inFile.groups).toBe(ids.length + 1);
      expect(summary.groupsSkipped).toHaveLength(MAX_SKIPPED_GROUPS_LISTED);
      expect(summary.groupsSkippedTotal).toBe(MAX_SKIPPED_GROUPS_LISTED + extra);
      expect(summary.groupsAlreadyHere).toBe(1);
      // The first lines of the file, in file order, each with its reason.
      expect(summary.groupsSkipped.map((g) => g.groupId)).toEqual(ids.slice(0, MAX_SKIPPED_GROUPS_LISTED));
      expect(summary.groupsSkipped[0]).toEqual({ groupId: ids[0], name: 'Group 1', reason: expect.stringContaining("not signed by this profile's identity") as string });
      // Nothing of the file became a group; the held one is as it was.
      expect(vault.kvKeys(GROUPS)).toEqual([heldId]);
      jobs.closeAll();
    } finally {
      vault.lock();
    }
  }, 60_000);
});
