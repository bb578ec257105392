// Group subcommands: group create|add|remove|promote|leave|rename|timer|allow-add|info, groups, and the group
// forms of send and history (send --group, history --group, wired in commands/messaging.ts).
// Everything goes through the contract (cli/client.ts), as the app does.
import type { Command } from 'commander';
import { GroupId, GroupName, type Attachment, type GroupInfo, type GroupMessage } from '../../shared/api.ts';
import { DISAPPEARING_SPELLINGS, disappearingLabel, parseDisappearing } from '../../shared/api/disappearing.ts';
import type { EphemeraClient } from '../../shared/api/rpc.ts';
import { checkHandle } from '../errors.ts';
import { action, CliError, ExitCode, globalOptions, printResult, type GlobalOptions } from '../io.ts';
import { untrusted } from '../terminal.ts';
import { waitMs, waitSeconds, withClient } from '../client.ts';

const DEFAULT_WAIT_S = 10;

export function groupId(v: string): string {
  if (!GroupId.safeParse(v).success) throw new CliError(`"${v.slice(0, 40)}" is not a group id: 32 hex characters, from group create or groups --json.`, ExitCode.USAGE);
  return v;
}

function groupName(v: string): string {
  if (!GroupName.safeParse(v).success) throw new CliError('A group name is 1-100 characters, not blank, without control characters.', ExitCode.USAGE);
  return v;
}

function infoLines(i: GroupInfo): string {
  return [
    `${untrusted(i.name)}  (${i.groupId}, revision ${i.revision}${i.timerSeconds ? `, messages disappear after ${disappearingLabel(i.timerSeconds)}` : ''}${i.membersCanAdd ? ', every member may add' : ''}${i.isMember ? '' : ', you are no longer a member'})`,
    ...i.members.map((m) => `  ${m}${i.admins.includes(m) ? '  admin' : ''}`),
  ].join('\n');
}

function infoJson(i: GroupInfo): Record<string, unknown> {
  return {
    groupId: i.groupId,
    name: i.name,
    members: i.members,
    admins: i.admins,
    revision: i.revision,
    creator: i.creator,
    isMember: i.isMember,
    timerSeconds: i.timerSeconds ?? 0,
    membersCanAdd: i.membersCanAdd,
  };
}

/** After a change or a message: a short wait so what was queued reaches the relay before the profile locks. */
async function flush(api: EphemeraClient, waitS: number): Promise<number> {
  await api.sync({ timeoutMs: waitMs(waitS), quietMs: 100 });
  return (await api.connectionState()).outboxSize;
}

/** `send --group GROUP_ID TEXT` (commands/messaging.ts hands it over). */
/** `send --group GROUP_ID TEXT [--reply-to MESSAGE_ID]` (commands/messaging.ts hands it over); `replyTo`: a text of the group (history --group --json). */
export async function sendToGroup(g: GlobalOptions, id: string, text: string, waitS: number, replyTo?: string): Promise<void> {
  groupId(id);
  const result = await withClient(g, waitS, async (api) => {
    const sent = await api.groupSend({ groupId: id, text, ...(replyTo !== undefined ? { replyTo } : {}) });
    const outbox = await flush(api, waitS);
    const now = (await api.groupHistory({ groupId: id, limit: 500 })).messages.find((m) => m.id === sent.id);
    return { id: sent.id, state: now?.state ?? sent.state, outbox };
  });
  const human = result.state === 'queued' ? 'Queued (relay unreachable): it goes out with the next send or sync.' : 'Sent.';
  printResult(g.json, human, { message: result.id, state: result.state, outbox: result.outbox });
}

function groupLine(m: GroupMessage, files: readonly Attachment[]): string {
  const when = new Date(m.sentAt).toISOString().replace('T', ' ').slice(0, 19);
  if (m.system) return `${when}  -- ${untrusted(m.text)}`;
  const who = `${m.direction === 'out' ? '->' : '<-'} ${untrusted(m.sender)}`;
  // Deleted for everyone: the same tombstone as a 1:1 message (commands/messaging.ts), no state.
  if (m.deleted) return `${when}  ${who}  This message was deleted`;
  // A file as in a 1:1 history: its name (untrusted), size, and the command that saves it.
  const fileNote = files.map((x) => `  [file ${untrusted(x.name)}, ${x.size} bytes${x.downloaded ? '' : ', not downloaded'}; save-attachment ${x.id}]`).join('');
  return `${when}  ${who}  ${replyLine(m.replyTo)}${untrusted(m.text)}${fileNote}  [${m.state}]`;
}

/** The quote of a reply, before its text: the quoted author and start of text, or that it is not held here. */
function replyLine(q: GroupMessage['replyTo']): string {
  if (q === undefined) return '';
  if (q === null) return '(reply to a message not stored here) ';
  return `(reply to ${untrusted(q.sender)}: "${untrusted(q.text.slice(0, 60))}") `;
}

/** `history --group GROUP_ID` (commands/messaging.ts hands it over). */
export async function groupHistory(g: GlobalOptions, id: string, limit: number): Promise<void> {
  groupId(id);
  const page = await withClient(g, DEFAULT_WAIT_S, async (api) => {
    const p = await api.groupHistory({ groupId: id, limit });
    return { ...p, files: await api.attachmentsOf({ messageIds: p.messages.map((m) => m.id) }) };
  });
  // Each message with its files (id, name, size, type, downloaded), as history --json lists a 1:1 chat's.
  const messages = page.messages.map((m) => ({ ...m, attachments: page.files.filter((x) => x.messageId === m.id) }));
  const human = messages.length === 0 ? 'No messages in this group.' : messages.map((m) => groupLine(m, m.attachments)).join('\n');
  printResult(g.json, human, { messages, hasOlder: page.hasOlder });
}

export function register(program: Command): void {
  const group = program.command('group').description('group chats: create, add, remove, promote, leave, rename, info');

  group
    .command('create <name> <handles...>')
    .description('create a group with these members (each gets it over an end-to-end session); prints the group id')
    .option('--wait <seconds>', 'how long to wait for the relay', waitSeconds, DEFAULT_WAIT_S)
    .action(
      action(async (name: string, handles: string[], opts: { wait: number }, cmd: Command) => {
        const g = globalOptions(cmd);
        groupName(name);
        for (const h of handles) checkHandle(h);
        const info = await withClient(g, opts.wait, async (api) => {
          const created = await api.groupCreate({ name, members: handles });
          await flush(api, opts.wait);
          return created;
        });
        printResult(g.json, info.groupId, { groupId: info.groupId });
      }),
    );

  const change = (verb: 'add' | 'remove' | 'promote', what: string): void => {
    group
      .command(`${verb} <group-id> <handle>`)
      .description(what)
      .option('--wait <seconds>', 'how long to wait for the relay', waitSeconds, DEFAULT_WAIT_S)
      .action(
        action(async (id: string, handle: string, opts: { wait: number }, cmd: Command) => {
          const g = globalOptions(cmd);
          groupId(id);
          checkHandle(handle);
          const info = await withClient(g, opts.wait, async (api) => {
            const p = { groupId: id, handle };
            const r = verb === 'add' ? await api.groupAdd(p) : verb === 'remove' ? await api.groupRemove(p) : await api.groupPromote(p);
            await flush(api, opts.wait);
            return r;
          });
          printResult(g.json, infoLines(info), infoJson(info));
        }),
      );
  };
  change('add', 'add a member (admins, or every member while allow-add is on); they get the group as it is now, never earlier messages');
  change('remove', 'remove a member (admins only); every member starts a new sender key, so they cannot read what follows');
  change('promote', 'make a member an admin (admins only)');

  group
    .command('leave <group-id>')
    .description('leave the group; the other members start new sender keys')
    .option('--wait <seconds>', 'how long to wait for the relay', waitSeconds, DEFAULT_WAIT_S)
    .action(
      action(async (id: string, opts: { wait: number }, cmd: Command) => {
        const g = globalOptions(cmd);
        groupId(id);
        const info = await withClient(g, opts.wait, async (api) => {
          const r = await api.groupLeave({ groupId: id });
          await flush(api, opts.wait);
          return r;
        });
        printResult(g.json, `Left ${untrusted(info.name)}.`, infoJson(info));
      }),
    );

  group
    .command('rename <group-id> <name>')
    .description('rename the group (admins only)')
    .option('--wait <seconds>', 'how long to wait for the relay', waitSeconds, DEFAULT_WAIT_S)
    .action(
      action(async (id: string, name: string, opts: { wait: number }, cmd: Command) => {
        const g = globalOptions(cmd);
        groupId(id);
        groupName(name);
        const info = await withClient(g, opts.wait, async (api) => {
          const r = await api.groupRename({ groupId: id, name });
          await flush(api, opts.wait);
          return r;
        });
        printResult(g.json, infoLines(info), infoJson(info));
      }),
    );

  group
    .command('timer <group-id> <duration>')
    .description(`set how long the group's messages last: ${DISAPPEARING_SPELLINGS.join(', ')} (admins only; messages already sent keep theirs)`)
    .option('--wait <seconds>', 'how long to wait for the relay', waitSeconds, DEFAULT_WAIT_S)
    .action(
      action(async (id: string, duration: string, opts: { wait: number }, cmd: Command) => {
        const g = globalOptions(cmd);
        groupId(id);
        // Refused before the password is asked.
        const s = parseDisappearing(duration);
        if (s === undefined) throw new CliError(`"${duration}" is not a duration: use one of ${DISAPPEARING_SPELLINGS.join(', ')}.`, ExitCode.USAGE);
        const info = await withClient(g, opts.wait, async (api) => {
          const r = await api.groupSetTimer({ groupId: id, seconds: s });
          await flush(api, opts.wait);
          return r;
        });
        printResult(g.json, infoLines(info), infoJson(info));
      }),
    );

  group
    .command('allow-add <group-id> <on-off>')
    .description('let every member add members (on), or only admins (off); admins only')
    .option('--wait <seconds>', 'how long to wait for the relay', waitSeconds, DEFAULT_WAIT_S)
    .action(
      action(async (id: string, onOff: string, opts: { wait: number }, cmd: Command) => {
        const g = globalOptions(cmd);
        groupId(id);
        // Refused before the password is asked.
        if (onOff !== 'on' && onOff !== 'off') throw new CliError(`"${onOff.slice(0, 40)}" is neither on nor off.`, ExitCode.USAGE);
        const info = await withClient(g, opts.wait, async (api) => {
          const r = await api.groupAllowAdd({ groupId: id, on: onOff === 'on' });
          await flush(api, opts.wait);
          return r;
        });
        printResult(g.json, infoLines(info), infoJson(info));
      }),
    );

  group
    .command('info <group-id>')
    .description('name, members, admins and revision of a group (as this profile holds it; run sync first for news)')
    .action(
      action(async (id: string, _opts: unknown, cmd: Command) => {
        const g = globalOptions(cmd);
        groupId(id);
        const info = await withClient(g, DEFAULT_WAIT_S, (api) => api.groupInfo({ groupId: id }));
        printResult(g.json, infoLines(info), infoJson(info));
      }),
    );

  program
    .command('groups')
    .description('list the groups this profile knows')
    .action(
      action(async (_opts: unknown, cmd: Command) => {
        const g = globalOptions(cmd);
        const list = await withClient(g, DEFAULT_WAIT_S, (api) => api.groupsList());
        printResult(g.json, list.length === 0 ? 'No groups.' : list.map(infoLines).join('\n'), { groups: list.map(infoJson) });
      }),
    );

}
