// Messaging subcommands: register, contact add|list, safety-number, verify, accept-identity,
// send, sync, history, delete, account. Each opens the profile, calls the contract (shared/api.ts)
// in-process through cli/client.ts, the same path and checks as the app, and locks again before exiting.
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { readFileSync } from 'node:fs';
import { ApiError, type Contact, type Message, type SafetyNumber } from '../../shared/api.ts';
import type { EphemeraClient } from '../../shared/api/rpc.ts';
import { timerChangeLine } from '../../shared/api/disappearing.ts';
import { formatSafetyNumber } from '../../main/e2e/safety-number.ts';
import { action, CliError, ExitCode, globalOptions, printJson, printNotice, printResult } from '../io.ts';
import { untrusted } from '../terminal.ts';
import { checkHandle } from '../errors.ts';
import { contactNamed, waitMs, waitSeconds, withClient } from '../client.ts';
import { deleteInGroup } from './group-delete.ts';
import { groupHistory, sendToGroup } from './groups.ts';

/** Default wait for the relay, seconds (`--wait` changes it where offered). */
const DEFAULT_WAIT_S = 10;

/** A safety number as printed by `safety-number` (12 groups of 5 digits); whitespace is ignored. */
function safetyNumberDigits(v: string): string {
  const digits = v.replace(/\s+/g, '');
  if (!/^\d{60}$/.test(digits)) throw new InvalidArgumentError('must be the 60 digits printed by safety-number (spaces allowed)');
  return digits;
}

function positive(max: number) {
  return (v: string): number => {
    if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > max) throw new InvalidArgumentError(`must be a whole number from 1 to ${max}`);
    return Number(v);
  };
}

/** A message id as history --json prints it (the core checks that it names a message of the conversation). */
function messageId(v: string): string {
  if (!/^[A-Za-z0-9_.:-]{1,128}$/.test(v)) throw new InvalidArgumentError('must be a message id (from history --json)');
  return v;
}

function contactLine(c: Contact): string {
  const flags = [c.verified ? 'verified' : 'not verified', c.identityChanged ? 'IDENTITY CHANGED' : ''].filter(Boolean).join(', ');
  return `${untrusted(c.handle)}  (${flags})`;
}

/** One message for people: time, direction and handle, text, state (the opaque id only in --json). */
function messageLine(m: Message, handle: string): string {
  const when = new Date(m.sentAt).toISOString().replace('T', ' ').slice(0, 19);
  const who = m.direction === 'out' ? `-> ${untrusted(handle)}` : `<- ${untrusted(handle)}`;
  if (m.deleted) return `${when}  ${who}  This message was deleted`;
  // A timer change is a system line; a message with a timer says when it disappears.
  if (m.timerChange) return `${when}  ${timerChangeLine(m.direction === 'out' ? 'You' : untrusted(handle), m.timerChange.seconds)}`;
  const timer = m.timerSeconds === undefined ? '' : m.expiresAt ? `  (disappears ${new Date(m.expiresAt).toISOString().replace('T', ' ').slice(0, 19)})` : '  (disappears after it is shown)';
  const quote = m.replyTo === undefined ? '' : m.replyTo === null ? '(reply to a message not stored here) ' : `(reply to "${untrusted(m.replyTo.text.slice(0, 60))}") `;
  return `${when}  ${who}  ${quote}${untrusted(m.text)}  [${m.state}]${timer}`;
}

/** Delete for everyone, then a short wait for the notice to reach the relay; `outbox`: what is still queued. */
async function deleteForEveryone(api: EphemeraClient, conversationId: string, messageId: string): Promise<{ deleted: number; outbox: number }> {
  const r = await api.deleteMessage({ conversationId, messageId, forEveryone: true });
  await api.sync({ timeoutMs: waitMs(DEFAULT_WAIT_S), quietMs: 100 });
  return { deleted: r.deleted, outbox: (await api.connectionState()).outboxSize };
}

/** Resolves when the message left the outbox (state no longer 'queued'), or after waitMs. */
function waitUntilSent(api: EphemeraClient, id: string, ms: number): Promise<Message['state'] | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      off();
      resolve(undefined);
    }, ms);
    const off = api.on('messageState', (change) => {
      if (change.id === id && change.state !== 'queued') {
        clearTimeout(timer);
        off();
        resolve(change.state);
      }
    });
  });
}

export function register(program: Command): void {
  program
    .command('register')
    .description('register this profile on a relay under a handle (uploads the public prekeys)')
    .requiredOption('--server <descriptor-file>', 'the relay descriptor (descriptor.json printed by ephemera-relay)')
    .requiredOption('--handle <name>', 'your handle: 3-32 of a-z, 0-9, _')
    .option('--wait <seconds>', 'how long to wait for the relay', waitSeconds, DEFAULT_WAIT_S)
    .action(
      action(async (opts: { server: string; handle: string; wait: number }, cmd: Command) => {
        const g = globalOptions(cmd);
        checkHandle(opts.handle);
        let descriptor: string;
        try {
          descriptor = readFileSync(opts.server, 'utf8');
        } catch {
          throw new CliError(`cannot read the descriptor file ${opts.server}`, ExitCode.USAGE);
        }
        const status = await withClient(g, opts.wait, (m) => m.register({ handle: opts.handle, serverDescriptor: descriptor }));
        printResult(g.json, `Registered as ${untrusted(status.account?.handle ?? '')} on ${untrusted(status.account?.relayUrl ?? '')}.`, { handle: status.account?.handle, relayUrl: status.account?.relayUrl });
      }),
    );

  const contact = program.command('contact').description('manage contacts');
  contact
    .command('add <handle>')
    .description('add a contact by handle (fetches their prekeys; compare safety numbers afterwards)')
    .option('--wait <seconds>', 'how long to wait for the relay', waitSeconds, DEFAULT_WAIT_S)
    .action(
      action(async (handle: string, opts: { wait: number }, cmd: Command) => {
        const g = globalOptions(cmd);
        checkHandle(handle);
        const c = await withClient(g, opts.wait, (m) => m.contactAdd({ handle }));
        printResult(g.json, `Added ${untrusted(c.handle)}. Compare safety numbers with: safety-number ${untrusted(c.handle)}`, { contact: c });
      }),
    );
  contact
    .command('list')
    .description('list contacts')
    .action(
      action(async (_opts: unknown, cmd: Command) => {
        const g = globalOptions(cmd);
        const list = await withClient(g, DEFAULT_WAIT_S, (m) => m.contactsList());
        printResult(g.json, list.length === 0 ? 'No contacts.' : list.map(contactLine).join('\n'), { contacts: list });
      }),
    );

  program
    .command('safety-number <handle>')
    .description("show the safety number with a contact (the same 60 digits on both sides)")
    .action(
      action(async (handle: string, _opts: unknown, cmd: Command) => {
        const g = globalOptions(cmd);
        checkHandle(handle);
        const sn = await withClient(g, DEFAULT_WAIT_S, async (m) => m.safetyNumber({ contactId: (await contactNamed(m, handle)).id }));
        const note = sn.identityChanged ? `\nTheir identity CHANGED: this is the new number. After comparing, accept it with: accept-identity ${handle} --safety-number "${formatSafetyNumber(sn.digits)}"` : sn.verified ? '\nVerified.' : '';
        printResult(g.json, `Safety number with ${handle}:\n  ${formatSafetyNumber(sn.digits)}${note}`, { safetyNumber: sn });
      }),
    );

  program
    .command('verify <handle>')
    .description('mark a contact verified (after comparing the safety number in person)')
    .action(
      action(async (handle: string, _opts: unknown, cmd: Command) => {
        const g = globalOptions(cmd);
        checkHandle(handle);
        const c = await withClient(g, DEFAULT_WAIT_S, async (m) => m.markVerified({ contactId: (await contactNamed(m, handle)).id, verified: true }));
        printResult(g.json, `${handle} is marked verified.`, { contact: c });
      }),
    );

  program
    .command('accept-identity <handle>')
    .description("accept a contact's changed identity key: pass the new safety number you compared (as printed by safety-number)")
    .option('--safety-number <digits>', 'the 60 digits you compared; spaces allowed. Without it the current number is printed and nothing changes', safetyNumberDigits)
    .action(
      action(async (handle: string, opts: { safetyNumber?: string }, cmd: Command) => {
        const g = globalOptions(cmd);
        checkHandle(handle);
        type Outcome = { kind: 'shown'; sn: SafetyNumber } | { kind: 'accepted'; contact: Contact };
        const outcome = await withClient(g, DEFAULT_WAIT_S, async (m): Promise<Outcome> => {
          const contactId = (await contactNamed(m, handle)).id;
          // Without the digits nothing is accepted: the user is shown what to compare first.
          if (opts.safetyNumber === undefined) return { kind: 'shown', sn: await m.safetyNumber({ contactId }) };
          return { kind: 'accepted', contact: await m.acceptIdentity({ contactId, safetyNumber: opts.safetyNumber }) };
        });
        if (outcome.kind === 'accepted') {
          const more = outcome.contact.identityChanged
            ? ` But messages held from yet another identity key of ${handle} are waiting: compare the safety number again (safety-number ${handle}).`
            : ' Sending is possible again.';
          printResult(g.json, `Accepted the new identity of ${handle}.${more}`, { contact: outcome.contact });
          return;
        }
        const sn = outcome.sn;
        if (!sn.identityChanged) throw new CliError(`The identity of ${handle} has not changed: there is nothing to accept.`, ExitCode.USAGE, 'INVALID_ARGUMENT');
        const formatted = formatSafetyNumber(sn.digits);
        const message = `Nothing accepted. The new safety number with ${handle} is:\n  ${formatted}\nCompare it with ${handle}, then run: accept-identity ${handle} --safety-number "${formatted}"`;
        if (g.json) printJson({ ok: false, code: 'IDENTITY_CHANGED', message, safetyNumber: sn });
        printNotice(`ephemera: ${message}`);
        process.exitCode = ExitCode.IDENTITY_CHANGED;
      }),
    );

  program
    .command('send <handle> [text]')
    .description('send a text message (HANDLE TEXT, or --group GROUP_ID TEXT); if the relay is unreachable it stays queued (sealed) and goes out with the next send or sync')
    .option('--wait <seconds>', 'how long to wait for the relay to accept it', waitSeconds, DEFAULT_WAIT_S)
    .option('--group <group-id>', 'send to a group instead (then the one argument is the text)')
    .option('--reply-to <message-id>', 'quote an earlier message of the same conversation or group (its id from history --json)', messageId)
    .action(
      action(async (handle: string, maybeText: string | undefined, opts: { wait: number; group?: string; replyTo?: string }, cmd: Command) => {
        const g = globalOptions(cmd);
        if (opts.group !== undefined) {
          if (maybeText !== undefined) throw new CliError('With --group give only the TEXT.', ExitCode.USAGE);
          return sendToGroup(g, opts.group, handle, opts.wait, opts.replyTo);
        }
        if (maybeText === undefined) throw new CliError('Give the HANDLE and the TEXT.', ExitCode.USAGE);
        const text = maybeText;
        checkHandle(handle);
        const result = await withClient(g, opts.wait, async (m) => {
          const c = await contactNamed(m, handle);
          const sent = await m.sendText({ conversationId: c.conversationId, text, ...(opts.replyTo !== undefined ? { replyTo: opts.replyTo } : {}) });
          const state = (await waitUntilSent(m, sent.id, waitMs(opts.wait))) ?? 'queued';
          // Let anything else queued earlier go out too while we are connected.
          if (state !== 'queued') await m.sync({ timeoutMs: waitMs(opts.wait), quietMs: 100 });
          return { id: sent.id, state, outbox: (await m.connectionState()).outboxSize };
        });
        const human =
          result.state === 'queued'
            ? `Queued (relay unreachable): the message is in the sealed outbox and goes out with the next send or sync.`
            : result.state === 'failed'
              ? `The relay refused the message.`
              : `Sent.`;
        printResult(g.json, human, { message: result.id, state: result.state, outbox: result.outbox });
        if (result.state === 'failed') process.exitCode = ExitCode.RELAY_REJECTED;
      }),
    );

  program
    .command('sync')
    .description('connect, send what is queued, receive what is waiting, then exit')
    .option('--wait <seconds>', 'how long to wait for the relay and for messages', waitSeconds, DEFAULT_WAIT_S)
    .action(
      action(async (opts: { wait: number }, cmd: Command) => {
        const g = globalOptions(cmd);
        let received = 0;
        // Queued messages leave the outbox as soon as the unlock has connected and bound, which
        // can be before sync() is called: so the count starts at open. A message changes from
        // queued to sent (accepted by the relay) or failed (refused) once.
        const sent = new Set<string>();
        const failed = new Set<string>();
        const count = (api: EphemeraClient): void => {
          api.on('message', (message) => {
            if (message.direction === 'in') received++;
          });
          api.on('messageState', (change) => {
            if (change.state === 'sent') sent.add(change.id);
            if (change.state === 'failed') failed.add(change.id);
          });
        };
        const result = await withClient(
          g,
          opts.wait,
          async (m) => {
            const { done } = await m.sync({ timeoutMs: waitMs(opts.wait) });
            const state = await m.connectionState();
            if (!done && state.phase !== 'ready') throw new ApiError('RELAY_UNREACHABLE', `The relay cannot be reached (${state.outboxSize} waiting in the outbox).`);
            return { received, sent: sent.size, failed: failed.size, outbox: state.outboxSize, complete: done };
          },
          { onOpen: count },
        );
        const lines = [
          `Sent ${result.sent} queued message(s); received ${result.received} new message(s); ${result.outbox} waiting in the outbox${result.complete ? '' : ' (still busy when --wait ran out)'}.`,
        ];
        if (result.failed > 0) lines.push(`The relay refused ${result.failed} queued message(s); they are marked failed (history shows them).`);
        printResult(g.json, lines.join('\n'), result);
        if (result.failed > 0) process.exitCode = ExitCode.RELAY_REJECTED;
      }),
    );

  program
    .command('history [handle]')
    .description('show the conversation with a contact (or with --group GROUP_ID a group), oldest first')
    .option('--limit <n>', 'how many messages', positive(500), 50)
    .option('--around <message-id>', 'show the messages around this one instead of the newest (its id from history --json or search --json)')
    .option('--group <group-id>', "show a group's messages instead")
    .action(
      action(async (maybeHandle: string | undefined, opts: { limit: number; around?: string; group?: string }, cmd: Command) => {
        const g = globalOptions(cmd);
        if (opts.group !== undefined) {
          if (maybeHandle !== undefined) throw new CliError('With --group give no HANDLE.', ExitCode.USAGE);
          return groupHistory(g, opts.group, opts.limit);
        }
        if (maybeHandle === undefined) throw new CliError('Give the HANDLE of the contact (or --group GROUP_ID).', ExitCode.USAGE);
        const handle = maybeHandle;
        checkHandle(handle);
        const page = await withClient(g, DEFAULT_WAIT_S, async (m) => {
          const c = await contactNamed(m, handle);
          const p = await m.historyPage({
            conversationId: c.conversationId,
            anchor: opts.around !== undefined ? { kind: 'around', messageId: opts.around } : { kind: 'newest' },
            limit: opts.limit,
          });
          return { ...p, attachments: await m.attachmentsOf({ messageIds: p.messages.map((x) => x.id) }) };
        });
        const withFiles = page.messages.map((msg) => ({ ...msg, attachments: page.attachments.filter((x) => x.messageId === msg.id) }));
        const fileNote = (msg: (typeof withFiles)[number]): string => msg.attachments.map((x) => `  [file ${untrusted(x.name)}, ${x.size} bytes${x.downloaded ? '' : ', not downloaded'}; save-attachment ${x.id}]`).join('');
        const human = page.messages.length === 0 ? `No messages with ${handle}.` : withFiles.map((m) => messageLine(m, handle) + fileNote(m)).join('\n');
        printResult(g.json, human, { messages: withFiles, hasOlder: page.hasOlder, hasNewer: page.hasNewer });
      }),
    );

  program
    .command('delete <handle> [message-id]')
    .description('delete a message (its id from history --json), or with --conversation every message with the contact, from this profile only ("delete for me"); with --for-everyone your own message, sent less than 24 h ago, becomes "This message was deleted" on both sides')
    .option('--conversation', 'delete every message of the conversation')
    .option('--for-everyone', 'delete your own message for everyone (within 24 h of sending it)')
    .option('--group <group-id>', 'delete a message of a group instead (then the one argument is the MESSAGE_ID)')
    .action(
      action(async (handle: string, messageId: string | undefined, opts: { conversation?: boolean; forEveryone?: boolean; group?: string }, cmd: Command) => {
        const g = globalOptions(cmd);
        if (opts.group !== undefined) {
          if (messageId !== undefined || opts.conversation === true) throw new CliError('With --group give only the MESSAGE_ID (from history --group GROUP_ID --json).', ExitCode.USAGE);
          return deleteInGroup(g, opts.group, handle, opts.forEveryone === true);
        }
        checkHandle(handle);
        // Exactly one of the two forms, refused before the password is asked.
        if (opts.conversation === true && messageId !== undefined) throw new CliError('Give either a MESSAGE_ID or --conversation, not both.', ExitCode.USAGE);
        if (opts.conversation !== true && messageId === undefined) throw new CliError('Give the MESSAGE_ID to delete (from history --json), or --conversation.', ExitCode.USAGE);
        const forEveryone = opts.forEveryone === true;
        if (forEveryone && messageId === undefined) throw new CliError('--for-everyone deletes one MESSAGE_ID of yours, not a conversation.', ExitCode.USAGE);
        const result = await withClient(g, DEFAULT_WAIT_S, async (m): Promise<{ deleted: number; outbox?: number }> => {
          const c = await contactNamed(m, handle);
          return messageId === undefined
            ? m.deleteConversation({ conversationId: c.conversationId })
            : forEveryone
              ? deleteForEveryone(m, c.conversationId, messageId)
              : m.deleteMessage({ conversationId: c.conversationId, messageId });
        });
        const human =
          messageId === undefined
            ? `Deleted ${result.deleted} message${result.deleted === 1 ? '' : 's'} with ${handle}.`
            : forEveryone
              ? `Deleted message ${messageId} for everyone${(result.outbox ?? 0) > 0 ? ' here; the notice to the contact is queued (sealed) and goes out with the next send or sync' : ''}.`
              : `Deleted message ${messageId}.`;
        const outbox = result.outbox === undefined ? {} : { forEveryone: true, outbox: result.outbox };
        printResult(g.json, human, { deleted: result.deleted, ...(messageId !== undefined ? { id: messageId } : { conversation: true }), ...outbox });
      }),
    );

  program
    .command('account')
    .description('show the registered handle, the relay, the connection and the outbox')
    .option('--wait <seconds>', 'how long to wait for the relay', waitSeconds, 3)
    .action(
      action(async (opts: { wait: number }, cmd: Command) => {
        const g = globalOptions(cmd);
        const data = await withClient(g, opts.wait, async (m) => {
          const status = await m.vaultStatus();
          if (status.account) await m.sync({ timeoutMs: waitMs(opts.wait), quietMs: 0 }).catch(() => undefined);
          const conn = await m.connectionState();
          const conversations = await m.conversationsList({});
          return {
            handle: status.account?.handle ?? null,
            relayUrl: status.account?.relayUrl ?? null,
            connection: conn.phase,
            outbox: conn.outboxSize,
            contacts: (await m.contactsList()).length,
            unread: conversations.reduce((n, c) => n + c.unread, 0),
          };
        });
        const human = data.handle
          ? [`Handle:      ${data.handle}`, `Relay:       ${data.relayUrl}`, `Connection:  ${data.connection}`, `Outbox:      ${data.outbox}`, `Contacts:    ${data.contacts}`, `Unread:      ${data.unread}`].join('\n')
          : 'Not registered (run register --server FILE --handle NAME).';
        printResult(g.json, human, data);
      }),
    );
}
