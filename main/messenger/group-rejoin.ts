// A group restored from a backup (group-backup.ts) holds no other member's sender key chain: a
// backup carries none. So the restored member hands its own fresh chain to every member and asks
// each, over the 1:1 sessions ('sender-key-request'), for their current chain; a member answers
// with its chain ('sender-key') only when the asker is a current member of the group (in the
// member's own log) whose identity key is accepted, and only while the member itself is one.
// Both sides keep the work sealed in the vault kv until it is in the sealed outbox, so a lock or
// a restart in between resumes it (docs/protocol.md §9b "Restored groups").
import { randomBytes } from 'node:crypto';
import type { SendManyParams } from '../../shared/protocol/methods.ts';
import { encodeEnvelope, type SenderKeyRequestContent } from '../e2e/index.ts';
import type { Vault } from '../vault/index.ts';
import { handGroupRequest } from './group-delivery.ts';
import { GroupLog } from './group-state.ts';
import { ensureSession, idem, loadGroup, saveGroup, utf8, type GroupDeps } from './group-store.ts';

/** Sealed kv: group id -> '' while a group restored from a backup has not asked its members yet. */
export const RESTORED = 'group-restored';
/** Sealed kv: "<group id>:<handle>" -> '' while a member's request for our chain waits for its answer. */
const REQUESTS = 'group-key-requests';
/** After a failed attempt (offline, locked), the next try waits this long. */
const RETRY_MS = 30_000;

export class GroupRejoin {
  /** After a failed attempt, restored groups are not looked for again before this time. */
  private notBefore = 0;
  private scanning = false;
  private answerScheduled = false;

  constructor(private readonly d: GroupDeps) {}

  // ---------------------------------------------------------------- the restored member

  /**
   * Called at every group read and receive (groups.ts drain): asks the members of groups an
   * import restored (one kv read when there are none). A lock, a restart or an offline moment
   * in between leaves the mark, and a later call asks again.
   */
  kick(): void {
    if (this.scanning || Date.now() < this.notBefore) return;
    let pending: boolean;
    try {
      pending = this.d.vault().kvKeys(RESTORED).length > 0;
    } catch {
      return; // locked
    }
    if (!pending) return;
    this.scanning = true;
    void this.resume()
      .then(
        (left) => (this.notBefore = left ? Date.now() + RETRY_MS : 0),
        () => (this.notBefore = Date.now() + RETRY_MS),
      )
      .finally(() => (this.scanning = false));
  }

  /** Asks for every restored group; resolves true when some are left for a later try. */
  private async resume(): Promise<boolean> {
    let vault: Vault;
    try {
      vault = this.d.vault();
    } catch {
      return true; // locked
    }
    let left = false;
    for (const groupId of vault.kvKeys(RESTORED)) {
      try {
        await this.ask(groupId);
      } catch {
        left = true;
      }
    }
    return left;
  }

  private async ask(groupId: string): Promise<void> {
    const self = this.d.self();
    const first = loadGroup(this.d, groupId);
    const members = first ? GroupLog.restore(first.log).state.members : [];
    // Sessions first (a bundle fetch waits for the relay), outside the vault activity as sends do.
    if (members.includes(self)) for (const h of members) if (h !== self) await ensureSession(this.d, h);
    await this.d.activity(async () => {
      const vault = this.d.vault();
      const record = loadGroup(this.d, groupId);
      const state = record ? GroupLog.restore(record.log).state : undefined;
      if (!record || !state?.members.includes(self)) {
        vault.kvDelete(RESTORED, groupId);
        return;
      }
      const e2e = this.d.e2e();
      const to = state.members.filter((h) => h !== self && !e2e.identityStatus(h).pending);
      const distribution = Buffer.from(await e2e.groups.distribution(record.dist)).toString('base64');
      const request: SenderKeyRequestContent = { v: 1, kind: 'sender-key-request', groupId };
      const reqId = randomBytes(16).toString('hex');
      const bodies: Uint8Array[] = [];
      const items: SendManyParams['items'] = [];
      // Per recipient in this order: our chain, then the request (the relay keeps a sender's order).
      for (const h of to) {
        bodies.push(encodeEnvelope(await e2e.sendContent(h, { v: 1, kind: 'sender-key', groupId, distribution })));
        items.push({ to: h, idem: idem(this.d, reqId, `key:${h}`), b: bodies.length - 1 });
        bodies.push(encodeEnvelope(await e2e.sendContent(h, request)));
        items.push({ to: h, idem: idem(this.d, reqId, `ask:${h}`), b: bodies.length - 1 });
      }
      handGroupRequest(this.d, bodies, items, reqId, undefined);
      // Re-read before writing: a member's chain may have been stored while we awaited above.
      const fresh = loadGroup(this.d, groupId);
      if (fresh && fresh.dist === record.dist) {
        fresh.holders = [...new Set([...fresh.holders, ...to])];
        saveGroup(this.d, groupId, fresh);
      }
      vault.kvDelete(RESTORED, groupId);
    });
  }

  // ---------------------------------------------------------------- the members asked

  /** Inside the 1:1 receive's transaction (vault writes only): the request waits for its answer just after. */
  storeRequest(from: string, content: SenderKeyRequestContent): { kind: 'none' } {
    // Only a group we hold; one answer per member however often it asks before we answer.
    if (loadGroup(this.d, content.groupId)) this.d.vault().kvSet(REQUESTS, `${content.groupId}:${from}`, utf8(''));
    this.scheduleAnswer();
    return { kind: 'none' };
  }

  private scheduleAnswer(): void {
    if (this.answerScheduled) return;
    this.answerScheduled = true;
    setImmediate(() => {
      this.answerScheduled = false;
      void this.d.activity(() => this.answer()).catch(() => undefined);
    });
  }

  /** Our current chain to each asker that is a current member with an accepted identity; anyone else gets nothing. */
  private async answer(): Promise<void> {
    const vault = this.d.vault();
    const e2e = this.d.e2e();
    const self = this.d.self();
    const reqId = randomBytes(16).toString('hex');
    const bodies: Uint8Array[] = [];
    const items: SendManyParams['items'] = [];
    const handed = new Map<string, { dist: string; to: string[] }>();
    const keys = vault.kvKeys(REQUESTS);
    for (const key of keys) {
      const [groupId = '', from = ''] = key.split(':');
      const record = loadGroup(this.d, groupId);
      if (!record) continue;
      const state = GroupLog.restore(record.log).state;
      const identity = e2e.identityStatus(from);
      if (!state.members.includes(self) || !state.members.includes(from) || from === self) continue;
      if (identity.trusted === undefined || identity.pending || !(await e2e.hasSession(from))) continue;
      const distribution = Buffer.from(await e2e.groups.distribution(record.dist)).toString('base64');
      bodies.push(encodeEnvelope(await e2e.sendContent(from, { v: 1, kind: 'sender-key', groupId, distribution })));
      items.push({ to: from, idem: idem(this.d, reqId, `key:${key}`), b: bodies.length - 1 });
      const h = handed.get(groupId) ?? { dist: record.dist, to: [] };
      h.to.push(from);
      handed.set(groupId, h);
    }
    handGroupRequest(this.d, bodies, items, reqId, undefined);
    for (const [groupId, h] of handed) {
      const fresh = loadGroup(this.d, groupId);
      if (!fresh || fresh.dist !== h.dist) continue;
      fresh.holders = [...new Set([...fresh.holders, ...h.to])];
      saveGroup(this.d, groupId, fresh);
    }
    // Answered or refused: each request is done (a refused one leaves no trace).
    for (const key of keys) vault.kvDelete(REQUESTS, key);
  }
}
