// Backup subcommands: export, import, open-backup (docs/backup-format.md). They go through the
// contract offline (cli/client.ts withOfflineClient), as the app does: backupExport,
// backupImport, backupRestore (a profile without a vault: the whole file and its signer are
// checked before anything is created), backupOpen and the opened backup's contacts, groups,
// history and search. Keys from flags, the environment or a prompt; a progress bar on stderr when it is a
// terminal (the contract's backupProgress events); Ctrl-C cancels the job (no partial file).
import { accessSync, constants as fsConstants, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Option, type Command } from 'commander';
import cliProgress from 'cli-progress';
import {
  GROUP_ID_RE,
  MAX_BACKUP_WORK_FACTOR,
  MAX_SEARCH_HITS,
  MIN_BACKUP_WORK_FACTOR,
  type Attachment,
  type BackupKey,
  type BackupProgress,
  type BackupProtection,
  type ImportSummary,
  type Message,
  type OpenedGroupMessage,
} from '../../shared/api.ts';
import type { EphemeraClient } from '../../shared/api/rpc.ts';
import { action, CliError, ExitCode, globalOptions, printNotice, printResult, readSecret, wantsJson, requireVault, kdfFor } from '../io.ts';
import { untrusted } from '../terminal.ts';
import { allowWeakOption, checkStrength } from '../errors.ts';
import { checkNewPassword, refuseEmptyPassword, withOfflineClient } from '../client.ts';

const BACKUP_HELP = `
Backup keys:
  EPHEMERA_BACKUP_PASSPHRASE  the backup passphrase; otherwise you are prompted (no echo)
  --recipient / --identity     age X25519 keys instead of a passphrase (age-keygen makes them)
Backup exit codes (all codes: ephemera --help): 3 wrong passphrase or identity, 5 damaged,
truncated, tampered or invalid content (or a signature that does not verify), 6 newer backup
format, 9 refused parameters, 15 not signed by this profile's identity, 130 cancelled.
Backups are signed with the account's identity key; import merges only backups signed by this
profile's identity unless you pass --trust-unsigned (their contacts then carry no verified marks).
Any backup can also be read without Ephemera: age -d [-i KEY] FILE
`;

/** The default work factor, as the hidden --work-factor's default (the contract's floor). */
const DEFAULT_WORK_FACTOR = MIN_BACKUP_WORK_FACTOR;

/** How the progress bar names each phase (as it did before the contract named them). */
const PHASE_LABEL: Record<BackupProgress['phase'], string> = { writing: 'export', verifying: 'verify', merging: 'apply', reading: 'open' };

const vaultPassword = (confirm = false) =>
  readSecret({ envVar: 'EPHEMERA_PASSWORD', prompt: confirm ? 'New vault password: ' : 'Vault password: ', confirm, what: 'password' });

const backupPassphrase = (confirm: boolean) =>
  readSecret({ envVar: 'EPHEMERA_BACKUP_PASSPHRASE', prompt: 'Backup passphrase: ', confirm, what: 'backup passphrase' });

/** The key to open a backup: the age identity file named (checked readable before anything opens), else the passphrase. */
async function backupKey(identityFile: string | undefined): Promise<BackupKey> {
  if (identityFile === undefined) return { kind: 'passphrase', passphrase: await backupPassphrase(false) };
  const path = resolve(identityFile);
  try {
    accessSync(path, fsConstants.R_OK);
  } catch (err) {
    throw new CliError(`cannot read the identity file: ${(err as Error).message}`, ExitCode.USAGE);
  }
  return { kind: 'identityFile', path };
}

/** A progress bar on stderr when it is a terminal (and not --json); otherwise nothing. */
function progressBar(json: boolean): { update: (p: BackupProgress) => void; stop: () => void } {
  if (json || !process.stderr.isTTY) return { update: () => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: '{phase} [{bar}] {percentage}% | {value}/{total} messages', hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  let phase: BackupProgress['phase'] | undefined;
  return {
    update: (p) => {
      const label = { phase: PHASE_LABEL[p.phase].padEnd(6) };
      if (p.phase !== phase) {
        if (phase !== undefined) bar.stop();
        phase = p.phase;
        bar.start(p.total, p.done, label);
      } else {
        bar.setTotal(p.total);
        bar.update(p.done, label);
      }
    },
    stop: () => {
      if (phase !== undefined) bar.stop();
    },
  };
}

/**
 * Runs one backup job of the contract under a fresh jobId: its progress events drive the bar,
 * Ctrl-C cancels it (the job then rejects with CANCELLED, exit 130, and leaves nothing behind).
 */
async function backupJob<T>(api: EphemeraClient, json: boolean, run: (jobId: string) => Promise<T>): Promise<T> {
  const jobId = `cli${randomBytes(12).toString('hex')}`;
  const progress = progressBar(json);
  const off = api.on('backupProgress', (p) => {
    if (p.jobId === jobId) progress.update(p);
  });
  const onSigint = (): void => void api.backupCancel({ jobId }).catch(() => undefined);
  process.on('SIGINT', onSigint);
  try {
    return await run(jobId);
  } finally {
    process.off('SIGINT', onSigint);
    off();
    progress.stop();
  }
}

function parseLimit(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new CliError('--limit must be a positive integer', ExitCode.USAGE);
  return n;
}

function parseWorkFactor(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new CliError('--work-factor must be an integer', ExitCode.USAGE);
  return n;
}

/**
 * Where --work-factor goes: within the contract's bounds, into BackupProtection; outside them
 * (tests ask for 10), to the messenger's own option, which the contract cannot set (the backup
 * layer refuses what it does not accept, exit 9).
 */
function workFactorPlacement(n: number): { inProtection?: number; forMessenger?: number } {
  return n >= MIN_BACKUP_WORK_FACTOR && n <= MAX_BACKUP_WORK_FACTOR ? { inProtection: n } : { forMessenger: n };
}

function describeSigner(status: ImportSummary['signer'], fingerprint: string | null): string {
  if (status === 'own') return "Signed by this profile's identity.";
  if (status === 'foreign') return `Signed by ANOTHER identity (key ${fingerprint ?? '?'}); imported on your confirmation, without verified marks.`;
  return 'NOT signed; imported on your confirmation, without verified marks.';
}

function formatTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 16);
}

/** The newest `limit` messages of an opened backup's conversation (all without a limit), oldest first, in the contract's pages. */
async function backupHistory(api: EphemeraClient, backupId: string, conversationId: string, limit: number | undefined): Promise<Message[]> {
  const out: Message[] = [];
  let anchor: { kind: 'newest' } | { kind: 'before'; messageId: string } = { kind: 'newest' };
  for (;;) {
    const want = limit === undefined ? 500 : Math.min(500, limit - out.length);
    if (want <= 0) break;
    const page = await api.historyPage({ backupId, conversationId, anchor, limit: want });
    out.unshift(...page.messages);
    const first = page.messages[0];
    if (!page.hasOlder || first === undefined) break;
    anchor = { kind: 'before', messageId: first.id };
  }
  return out;
}

/** The newest `limit` messages of an opened backup's group (all without a limit), oldest first. */
async function backupGroupHistory(api: EphemeraClient, backupId: string, groupId: string, limit: number | undefined): Promise<OpenedGroupMessage[]> {
  const out: OpenedGroupMessage[] = [];
  let anchor: { kind: 'newest' } | { kind: 'before'; messageId: string } = { kind: 'newest' };
  for (;;) {
    const want = limit === undefined ? 500 : Math.min(500, limit - out.length);
    if (want <= 0) break;
    const page = await api.backupGroupHistory({ backupId, groupId, anchor, limit: want });
    out.unshift(...page.messages);
    const first = page.messages[0];
    if (!page.hasOlder || first === undefined) break;
    anchor = { kind: 'before', messageId: first.id };
  }
  return out;
}

/** A message's text as history prints it (a tombstone says so; its text is empty). */
function shownText(m: { text: string; deleted?: true | undefined }): string {
  return m.deleted ? '(deleted for everyone)' : untrusted(m.text);
}

/**
 * A reply's quote before its text, as the live `history` prints it (commands/messaging.ts,
 * commands/groups.ts): the quoted author (groups; `me` for own texts) and start of text, or that the
 * quoted message is not in the backup.
 */
function quoteText(q: Message['replyTo'] | OpenedGroupMessage['replyTo']): string {
  if (q === undefined) return '';
  if (q === null) return '(reply to a message not stored here) ';
  const who = 'sender' in q ? `${q.sender === null ? 'me' : untrusted(q.sender)}: ` : '';
  return `(reply to ${who}"${untrusted(q.text.slice(0, 60))}") `;
}

/** The files the opened backup lists for these messages, by message id. */
async function backupFiles(api: EphemeraClient, backupId: string, messages: readonly { id: string }[]): Promise<Map<string, Attachment>> {
  const files = new Map<string, Attachment>();
  for (let i = 0; i < messages.length; i += 500) {
    for (const a of await api.attachmentsOf({ backupId, messageIds: messages.slice(i, i + 500).map((m) => m.id) })) files.set(a.messageId, a);
  }
  return files;
}

export function register(program: Command): void {
  program
    .command('export')
    .description('write the whole history to FILE, an age-encrypted backup (passphrase, or --recipient)')
    .argument('<file>', 'backup file to write (replaced only once complete)')
    .option('--recipient <age1...>', 'encrypt to this age X25519 recipient instead of a passphrase (repeatable)', (v: string, acc: string[] | undefined) => [
      ...(acc ?? []),
      v,
    ])
    .option('--with-identity', 'also include the account identity key (whoever opens the backup can act as you)')
    .option('--without-attachments', "leave the files' bytes out (their messages and names stay; the file is smaller)")
    .addOption(new Option('--work-factor <n>', 'scrypt log2(N) for a passphrase backup').default(DEFAULT_WORK_FACTOR).argParser(parseWorkFactor).hideHelp())
    .addOption(allowWeakOption())
    .addHelpText('after', BACKUP_HELP)
    .action(
      action(async (file: string, opts: { recipient?: string[]; withIdentity?: boolean; withoutAttachments?: boolean; workFactor: number; allowWeak?: boolean }, cmd: Command) => {
        const g = globalOptions(cmd);
        requireVault(g.profile);
        if (opts.withIdentity) {
          printNotice('WARNING: this backup will contain your account identity key. Anyone who can decrypt it can impersonate you. Keep it like a password.');
        }
        const password = refuseEmptyPassword(await vaultPassword());
        const wf = workFactorPlacement(opts.workFactor);
        const r = await withOfflineClient(
          g.profile,
          async (api) => {
            await api.unlock({ password });
            const passphrase = opts.recipient === undefined ? await backupPassphrase(true) : undefined;
            if (passphrase !== undefined) checkStrength(passphrase, 'backup passphrase', opts.allowWeak);
            const protection: BackupProtection =
              passphrase === undefined
                ? { kind: 'recipients', recipients: opts.recipient ?? [] }
                : { kind: 'passphrase', passphrase, ...(wf.inProtection !== undefined ? { workFactor: wf.inProtection } : {}) };
            return backupJob(api, g.json, (jobId) =>
              api.backupExport({ jobId, path: resolve(file), protection, includeIdentity: opts.withIdentity === true, includeAttachments: opts.withoutAttachments !== true }),
            );
          },
          { allowWeakSecrets: opts.allowWeak === true, ...(wf.forMessenger !== undefined ? { backupWorkFactor: wf.forMessenger } : {}) },
        );
        const c = r.counts;
        printResult(
          g.json,
          `Backup written to ${untrusted(r.path)}: ${c.messages} messages, ${c.conversations} conversations, ${c.contacts} contacts${r.includesIdentity ? ', and the account identity' : ''}.\n` +
            (r.signerFingerprint !== null
              ? `Signed with this profile's identity (key ${r.signerFingerprint}).`
              : 'Not signed: this profile has no identity yet (register first to sign backups).'),
          { file: r.path, counts: c, bytes: r.bytes, includesIdentity: r.includesIdentity, signer: r.signerFingerprint },
        );
      }),
    );

  program
    .command('import')
    .description('merge a backup into the profile (creating the vault if there is none); verifies the whole file first')
    .argument('<file>', 'backup file')
    .option('--identity <file>', 'age identity file (AGE-SECRET-KEY-1...) for a backup made with --recipient')
    .option('--with-identity', 'also restore the account identity if the backup has one and the profile has none')
    .option('--trust-unsigned', "import a backup that is not signed by this profile's identity (unsigned, or another identity's); it gets no verified marks")
    .addOption(allowWeakOption())
    .addHelpText('after', BACKUP_HELP)
    .action(
      action(async (file: string, opts: { identity?: string; withIdentity?: boolean; trustUnsigned?: boolean; allowWeak?: boolean }, cmd: Command) => {
        const g = globalOptions(cmd);
        const key = await backupKey(opts.identity);
        const what = { path: resolve(file), key, trustUnsigned: opts.trustUnsigned === true, restoreIdentity: opts.withIdentity === true };
        const { r, recoveryPhrase } = await withOfflineClient(
          g.profile,
          async (api) => {
            if ((await api.vaultStatus()).vault !== 'none') {
              await api.unlock({ password: refuseEmptyPassword(await vaultPassword()) });
              return { r: await backupJob(api, g.json, (jobId) => api.backupImport({ jobId, ...what })), recoveryPhrase: undefined };
            }
            // No vault: backupRestore checks the file and its signer before it creates one, so a
            // bad or refused backup leaves no new profile behind.
            const password = checkNewPassword(await vaultPassword(true), opts.allowWeak);
            const { recoveryPhrase: phrase, ...summary } = await backupJob(api, g.json, (jobId) => api.backupRestore({ jobId, ...what, password }));
            return { r: summary, recoveryPhrase: phrase };
          },
          { kdf: kdfFor(), allowWeakSecrets: opts.allowWeak === true },
        ).catch((e: unknown) => {
          if (e instanceof CliError && e.apiCode === 'BACKUP_UNTRUSTED') printNotice('To import it anyway, add --trust-unsigned.');
          throw e;
        });
        const lines = [
          `Imported into ${g.profile}: ${r.added.messages} new messages, ${r.added.conversations} new conversations, ${r.added.contacts} new contacts` +
            `${r.added.secrets > 0 ? ', the account identity' : ''} (the backup holds ${r.inFile.messages} messages).`,
          describeSigner(r.signer, r.signerFingerprint),
        ];
        if (r.secretsSkipped.length > 0) {
          lines.push(`Account identity in the backup not restored${opts.withIdentity ? ' (the profile has its own)' : ' (use --with-identity)'}.`);
        }
        // Named one by one: a group left out (e.g. a membership log past 4,096 changes) is otherwise silently missing.
        for (const s of r.groupsSkipped) lines.push(`Group "${untrusted(s.name)}" (${s.groupId}) not restored: ${s.reason}.`);
        const unlisted = r.groupsSkippedTotal - r.groupsSkipped.length;
        if (unlisted > 0) lines.push(`${unlisted} more group${unlisted === 1 ? '' : 's'} not restored.`);
        if (r.groupsAlreadyHere > 0) lines.push(`${r.groupsAlreadyHere} group${r.groupsAlreadyHere === 1 ? '' : 's'} of the backup already in this profile, kept as ${r.groupsAlreadyHere === 1 ? 'it is' : 'they are'}.`);
        if (r.replyLinks.dropped > 0) {
          lines.push(`${r.replyLinks.dropped} reply link${r.replyLinks.dropped === 1 ? '' : 's'} dropped (the message${r.replyLinks.dropped === 1 ? ' stays' : 's stay'}, without a quote):`);
          for (const d of r.replyLinks.droppedLinks) lines.push(`  ${d.messageId}: ${d.reason}`);
        }
        if (recoveryPhrase !== undefined) lines.push(`New vault created. Recovery phrase — write it down now, it is shown only once:\n  ${recoveryPhrase}`);
        printResult(g.json, lines.join('\n'), {
          profile: g.profile,
          inFile: r.inFile,
          added: r.added,
          secretsSkipped: r.secretsSkipped,
          groupsSkipped: r.groupsSkipped,
          groupsSkippedTotal: r.groupsSkippedTotal,
          groupsAlreadyHere: r.groupsAlreadyHere,
          replyLinks: r.replyLinks,
          signer: { status: r.signer, fingerprint: r.signerFingerprint },
          created: recoveryPhrase !== undefined,
          ...(recoveryPhrase !== undefined ? { recoveryPhrase } : {}),
        });
      }),
    );

  program
    .command('open-backup')
    .description('read a backup without any profile: "groups", "history NAME", "history --group GROUP_ID", "search TEXT" or "save-attachment ATTACHMENT_ID PATH"')
    .argument('<file>', 'backup file')
    .argument('<what>', 'groups | history | search | save-attachment')
    .argument('[text...]', 'contact (handle or name) for history; words for search; ATTACHMENT_ID PATH for save-attachment')
    .option('--identity <file>', 'age identity file for a backup made with --recipient')
    .option('--limit <n>', 'at most this many messages (history: the newest)', parseLimit)
    .option('--group <groupId>', 'history: the group with this id (open-backup FILE groups lists them)')
    .addHelpText('after', BACKUP_HELP)
    .action(
      action(async (file: string, what: string, words: string[], opts: { identity?: string; limit?: number; group?: string }, cmd: Command) => {
        const json = wantsJson(cmd);
        const usage = 'open-backup: expected "groups", "history NAME", "history --group GROUP_ID", "search TEXT" or "save-attachment ATTACHMENT_ID PATH"';
        if (what !== 'history' && what !== 'search' && what !== 'save-attachment' && what !== 'groups') throw new CliError(usage, ExitCode.USAGE);
        if (what === 'save-attachment' && words.length !== 2) throw new CliError('open-backup: expected "save-attachment ATTACHMENT_ID PATH"', ExitCode.USAGE);
        if (opts.group !== undefined && (what !== 'history' || words.length > 0)) throw new CliError('open-backup: --group goes with "history" and no NAME', ExitCode.USAGE);
        if (opts.group !== undefined && !GROUP_ID_RE.test(opts.group)) throw new CliError('open-backup: --group takes a group id (32 hex characters)', ExitCode.USAGE);
        if ((what === 'search' || (what === 'history' && opts.group === undefined)) && words.length === 0) throw new CliError(usage, ExitCode.USAGE);
        if (what === 'groups' && words.length > 0) throw new CliError(usage, ExitCode.USAGE);
        const key = await backupKey(opts.identity);
        const text = words.join(' ');
        // No profile: the messenger serving the contract gets an empty folder of its own, in
        // which nothing is written (an opened backup stays in memory), removed afterwards.
        const scratch = mkdtempSync(join(tmpdir(), 'ephemera-open-backup-'));
        try {
          await withOfflineClient(scratch, async (api) => {
            const { backupId } = await backupJob(api, json, (jobId) => api.backupOpen({ jobId, path: resolve(file), key }));
            if (what === 'save-attachment') {
              // Streamed from the backup file (checked whole again), before and without any import.
              const [attachmentId, out] = words as [string, string];
              const { bytes } = await api.saveAttachment({ backupId, attachmentId, path: resolve(out) });
              printResult(json, `Saved ${bytes} bytes to ${untrusted(resolve(out))}.`, { attachmentId, path: resolve(out), bytes });
            } else if (what === 'groups') {
              const groups = await api.backupGroups({ backupId });
              const human = groups.length === 0 ? ['No groups in this backup.'] : [];
              for (const g of groups) {
                const members = g.logVerified ? `${g.members.length} members: ${g.members.join(', ')}` : 'membership log does not verify: members not shown';
                human.push(`${untrusted(g.name)} (${g.groupId}) — ${members} — ${g.messages} messages`);
              }
              printResult(json, human.join('\n'), { groups });
            } else if (what === 'history' && opts.group !== undefined) {
              const groupId = opts.group;
              const group = (await api.backupGroups({ backupId })).find((g) => g.groupId === groupId);
              if (!group) throw new CliError(`No group ${groupId} in this backup.`, ExitCode.BAD_PARAMETERS, 'BAD_PARAMETERS');
              const messages = await backupGroupHistory(api, backupId, groupId, opts.limit);
              const files = await backupFiles(api, backupId, messages);
              const head = `${untrusted(group.name)} — ${group.logVerified ? group.members.join(', ') : 'membership log does not verify'} — ${messages.length} messages`;
              const human = [head];
              for (const m of messages) {
                const a = files.get(m.id);
                const note = a ? ` [file ${untrusted(a.name)}, ${a.size} bytes${a.downloaded ? '' : ', not in the backup'}]` : '';
                const receipts = m.receipts ? ` (read by ${m.receipts.read} of ${m.receipts.of})` : '';
                const who = m.direction === 'out' && !m.system ? 'me' : (m.sender ?? 'unknown');
                human.push(m.system ? `[${formatTime(m.sentAt)}] — ${untrusted(m.text)}` : `[${formatTime(m.sentAt)}] ${who}: ${m.deleted ? '' : quoteText(m.replyTo)}${shownText(m)}${note}${receipts}`);
              }
              printResult(json, human.join('\n'), {
                group,
                messages: messages.map((m) => {
                  const a = files.get(m.id);
                  return { ...m, attachments: a ? [{ id: a.id, name: a.name, size: a.size, type: a.type, downloaded: a.downloaded }] : [] };
                }),
              });
            } else if (what === 'history') {
              const [contact] = await api.backupContacts({ backupId, name: text });
              if (!contact) throw new CliError(`No contact "${text}" in this backup.`, ExitCode.BAD_PARAMETERS, 'BAD_PARAMETERS');
              const messages = await backupHistory(api, backupId, contact.conversationId, opts.limit);
              const files = await backupFiles(api, backupId, messages);
              const conversation = (await api.conversationsList({ backupId })).find((c) => c.id === contact.conversationId);
              const name = untrusted(contact.displayName || contact.handle);
              const human = [`${name} (@${untrusted(contact.handle)}) — ${messages.length} messages`];
              for (const m of messages) {
                const a = files.get(m.id);
                const note = a ? ` [file ${untrusted(a.name)}, ${a.size} bytes${a.downloaded ? '' : ', not in the backup'}]` : '';
                human.push(`[${formatTime(m.sentAt)}] ${m.direction === 'out' ? 'me' : name}: ${m.deleted ? '' : quoteText(m.replyTo)}${shownText(m)}${note}`);
              }
              printResult(json, human.join('\n'), {
                contact: { id: contact.id, handle: contact.handle, displayName: contact.displayName },
                conversation,
                // As `history --json` lists them: each message's attachments (id, name, size, type, in the backup or not).
                messages: messages.map((m) => {
                  const a = files.get(m.id);
                  return { ...m, attachments: a ? [{ id: a.id, name: a.name, size: a.size, type: a.type, downloaded: a.downloaded }] : [] };
                }),
              });
            } else {
              const { hits } = await api.search({ backupId, query: text, order: 'newest', limit: Math.min(opts.limit ?? 100, MAX_SEARCH_HITS) });
              const human = hits.length === 0 ? [`No message contains "${untrusted(text)}".`] : [];
              const textOf = (h: (typeof hits)[number]): string => h.snippet.map((s) => s.text).join('');
              for (const h of hits) human.push(`[${formatTime(h.sentAt)}] ${untrusted(h.conversationTitle || 'unknown chat')}: ${untrusted(textOf(h))}`);
              printResult(json, human.join('\n'), {
                query: text,
                hits: hits.map((h) => ({
                  message: { id: h.messageId, conversationId: h.conversationId, direction: h.direction, sentAt: h.sentAt, text: textOf(h) },
                  conversationId: h.conversationId,
                  title: h.conversationTitle,
                })),
              });
            }
            await api.backupClose({ backupId });
          });
        } finally {
          rmSync(scratch, { recursive: true, force: true });
        }
      }),
    );
}
