// Backup subcommands: export, import, open-backup (docs/backup-format.md). Thin wrappers over
// main/backup: keys from flags, the environment or a prompt; a progress bar on stderr when it
// is a terminal; Ctrl-C cancels (no partial file); BackupError codes mapped to exit codes.
// Not through the contract: what it reports, import into a profile without a vault and
// open-backup without a profile are beyond the contract's backup methods (docs/architecture.md, CLI).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import cliProgress from 'cli-progress';
import {
  ACCOUNT_IDENTITY_SECRETS,
  BackupError,
  DEFAULT_WORK_FACTOR,
  exportBackup,
  importBackup,
  inspectBackup,
  openBackup,
  parseIdentityFile,
  signerFingerprint,
  BackupUntrusted,
  type BackupErrorCode,
  type BackupSigner,
  type BackupProgress,
  type DecryptKeys,
  type EncryptKeys,
  type ProgressListener,
} from '../../main/backup/index.ts';
import { backupMessageStatus, markImportedTombstones } from '../../main/messenger/backup-records.ts';
import { attachmentSink, attachmentSource } from '../../main/messenger/backup-attachments.ts';
import { Vault } from '../../main/vault/index.ts';
import { action, CliError, ExitCode, globalOptions, printNotice, printResult, readSecret, wantsJson, type ExitCodeValue, requireVault, kdfFor } from '../io.ts';
import { untrusted } from '../terminal.ts';
import { allowWeakOption, checkStrength } from '../errors.ts';

const BACKUP_EXIT: Record<BackupErrorCode, ExitCodeValue> = {
  WRONG_KEY: ExitCode.WRONG_SECRET,
  CORRUPT: ExitCode.VAULT_CORRUPT,
  MALFORMED: ExitCode.VAULT_CORRUPT,
  UNSUPPORTED_VERSION: ExitCode.UNSUPPORTED_VERSION,
  BAD_PARAMETERS: ExitCode.BAD_PARAMETERS,
  BAD_SIGNATURE: ExitCode.VAULT_CORRUPT,
  UNTRUSTED: ExitCode.UNTRUSTED_BACKUP,
  CANCELLED: ExitCode.INTERRUPTED,
  IO: ExitCode.ERROR,
};

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

/** Runs `fn`, turning BackupErrors into CliErrors with the right exit code and machine code. */
async function mapped<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof BackupError) {
      const hint = err.code === 'UNTRUSTED' ? ' To import it anyway, add --trust-unsigned.' : '';
      throw new CliError(err.message + hint, BACKUP_EXIT[err.code], err.code);
    }
    throw err;
  }
}

const vaultPassword = (confirm = false) =>
  readSecret({ envVar: 'EPHEMERA_PASSWORD', prompt: confirm ? 'New vault password: ' : 'Vault password: ', confirm, what: 'password' });

const backupPassphrase = (confirm: boolean) =>
  readSecret({ envVar: 'EPHEMERA_BACKUP_PASSPHRASE', prompt: 'Backup passphrase: ', confirm, what: 'backup passphrase' });

async function decryptKeys(identityFile: string | undefined): Promise<DecryptKeys> {
  if (identityFile === undefined) return { passphrase: await backupPassphrase(false) };
  let text: string;
  try {
    text = readFileSync(resolve(identityFile), 'utf8');
  } catch (err) {
    throw new CliError(`cannot read the identity file: ${(err as Error).message}`, ExitCode.USAGE);
  }
  return { identities: await mapped(async () => parseIdentityFile(text)) };
}

/** A progress bar on stderr when it is a terminal (and not --json); otherwise nothing. */
function progressBar(json: boolean): { listener: ProgressListener | undefined; stop: () => void } {
  if (json || !process.stderr.isTTY) return { listener: undefined, stop: () => {} };
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: '{phase} [{bar}] {percentage}% | {value}/{total} messages', hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  let phase: BackupProgress['phase'] | undefined;
  return {
    listener: (p) => {
      if (p.phase !== phase) {
        if (phase !== undefined) bar.stop();
        phase = p.phase;
        bar.start(p.total, p.done, { phase: p.phase.padEnd(6) });
      } else {
        bar.setTotal(p.total);
        bar.update(p.done, { phase: p.phase.padEnd(6) });
      }
    },
    stop: () => {
      if (phase !== undefined) bar.stop();
    },
  };
}

/** Ctrl-C aborts the operation (export removes its temporary file) instead of killing the process. */
function cancelOnSigint(): { signal: AbortSignal; dispose: () => void } {
  const ac = new AbortController();
  const onSigint = (): void => ac.abort();
  process.on('SIGINT', onSigint);
  return { signal: ac.signal, dispose: () => process.off('SIGINT', onSigint) };
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

function describeSigner(s: BackupSigner): string {
  if (s.status === 'own') return "Signed by this profile's identity.";
  if (s.status === 'foreign') return `Signed by ANOTHER identity (key ${s.fingerprint}); imported on your confirmation, without verified marks.`;
  return 'NOT signed; imported on your confirmation, without verified marks.';
}

const signerJson = (s: BackupSigner): { status: BackupSigner['status']; fingerprint: string | null } => ({
  status: s.status,
  fingerprint: s.status === 'unsigned' ? null : s.fingerprint,
});

function formatTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 16);
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
        const vault = await Vault.unlock(g.profile, await vaultPassword());
        const progress = progressBar(g.json);
        const cancel = cancelOnSigint();
        try {
          const passphrase = opts.recipient === undefined ? await backupPassphrase(true) : undefined;
          if (passphrase !== undefined) checkStrength(passphrase, 'backup passphrase', opts.allowWeak);
          const keys: EncryptKeys = passphrase === undefined ? { recipients: opts.recipient ?? [] } : { passphrase, workFactor: opts.workFactor };
          const r = await mapped(() =>
            exportBackup(vault, file, {
              keys,
              identitySecretNames: opts.withIdentity ? ACCOUNT_IDENTITY_SECRETS : undefined,
              signal: cancel.signal,
              onProgress: progress.listener,
              // Opened without the app: an expired message not yet deleted is left out, a tombstone stays one.
              messageStatus: backupMessageStatus(vault),
              attachments: attachmentSource(vault),
              includeAttachmentBytes: opts.withoutAttachments !== true,
            }),
          );
          progress.stop();
          printResult(
            g.json,
            `Backup written to ${untrusted(r.file)}: ${r.counts.messages} messages, ${r.counts.conversations} conversations, ${r.counts.contacts} contacts${r.includesIdentity ? ', and the account identity' : ''}.\n` +
              (r.signer ? `Signed with this profile's identity (key ${signerFingerprint(r.signer)}).` : 'Not signed: this profile has no identity yet (register first to sign backups).'),
            { ...r, signer: r.signer ? signerFingerprint(r.signer) : null },
          );
        } finally {
          progress.stop();
          cancel.dispose();
          vault.lock();
        }
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
        const keys = await decryptKeys(opts.identity);
        const progress = progressBar(g.json);
        const cancel = cancelOnSigint();
        let recoveryPhrase: string | undefined;
        let vault: Vault | undefined;
        try {
          if (Vault.exists(g.profile)) {
            vault = await Vault.unlock(g.profile, await vaultPassword());
          } else {
            // Check the file (and who signed it) before creating anything, so a bad or refused
            // backup leaves no new profile behind.
            await mapped(async () => {
              const seen = await inspectBackup(undefined, file, { keys, restoreIdentity: opts.withIdentity === true, signal: cancel.signal, onProgress: progress.listener });
              if (seen.signer.status !== 'own' && opts.trustUnsigned !== true) throw new BackupUntrusted(seen.signer);
            });
            const password = await vaultPassword(true);
            checkStrength(password, 'password', opts.allowWeak);
            const created = await Vault.create(g.profile, password, { kdf: kdfFor() });
            vault = created.vault;
            recoveryPhrase = created.recoveryPhrase;
          }
          const target = vault;
          const r = await mapped(() =>
            importBackup(target, file, {
              keys,
              restoreIdentity: opts.withIdentity === true,
              trustUnsigned: opts.trustUnsigned === true,
              signal: cancel.signal,
              onProgress: progress.listener,
              markTombstones: markImportedTombstones(target),
              attachments: attachmentSink(target),
            }),
          );
          progress.stop();
          const lines = [
            `Imported into ${g.profile}: ${r.added.messages} new messages, ${r.added.conversations} new conversations, ${r.added.contacts} new contacts` +
              `${r.added.secrets > 0 ? ', the account identity' : ''} (the backup holds ${r.inFile.messages} messages).`,
            describeSigner(r.signer),
          ];
          if (r.secretsSkipped.length > 0) {
            lines.push(`Account identity in the backup not restored${opts.withIdentity ? ' (the profile has its own)' : ' (use --with-identity)'}.`);
          }
          if (recoveryPhrase !== undefined) lines.push(`New vault created. Recovery phrase — write it down now, it is shown only once:\n  ${recoveryPhrase}`);
          printResult(g.json, lines.join('\n'), {
            profile: g.profile,
            ...r,
            signer: signerJson(r.signer),
            created: recoveryPhrase !== undefined,
            ...(recoveryPhrase ? { recoveryPhrase } : {}),
          });
        } finally {
          progress.stop();
          cancel.dispose();
          vault?.lock();
        }
      }),
    );

  program
    .command('open-backup')
    .description('read a backup without any profile: "history NAME" or "search TEXT"')
    .argument('<file>', 'backup file')
    .argument('<what>', 'history | search')
    .argument('<text...>', 'contact (handle or name) for history; words for search')
    .option('--identity <file>', 'age identity file for a backup made with --recipient')
    .option('--limit <n>', 'at most this many messages (history: the newest)', parseLimit)
    .addHelpText('after', BACKUP_HELP)
    .action(
      action(async (file: string, what: string, words: string[], opts: { identity?: string; limit?: number }, cmd: Command) => {
        const json = wantsJson(cmd);
        if (what !== 'history' && what !== 'search') throw new CliError('open-backup: expected "history NAME" or "search TEXT"', ExitCode.USAGE);
        const keys = await decryptKeys(opts.identity);
        const progress = progressBar(json);
        const cancel = cancelOnSigint();
        try {
          const archive = await mapped(() => openBackup(file, { keys, signal: cancel.signal, onProgress: progress.listener }));
          progress.stop();
          const text = words.join(' ');
          if (what === 'history') {
            const h = await mapped(async () => archive.history(text, opts.limit !== undefined ? { limit: opts.limit } : {}));
            const name = untrusted(h.contact.displayName || h.contact.handle);
            const human = [`${name} (@${untrusted(h.contact.handle)}) — ${h.messages.length} messages`];
            for (const m of h.messages) {
              const a = archive.attachmentOf(m.id);
              const file = a ? ` [file ${untrusted(a.name)}, ${a.size} bytes${a.downloaded ? '' : ', not in the backup'}]` : '';
              human.push(`[${formatTime(m.sentAt)}] ${m.direction === 'out' ? 'me' : name}: ${untrusted(m.text)}${file}`);
            }
            printResult(json, human.join('\n'), {
              contact: { id: h.contact.id, handle: h.contact.handle, displayName: h.contact.displayName },
              conversation: h.conversation,
              // As `history --json` lists them: each message's attachments (id, name, size, type, in the backup or not).
              messages: h.messages.map((m) => {
                const a = archive.attachmentOf(m.id);
                return { ...m, attachments: a ? [{ id: a.id, name: a.name, size: a.size, type: a.contentType, downloaded: a.downloaded }] : [] };
              }),
            });
          } else {
            const hits = archive.search(text, { limit: opts.limit ?? 100 });
            const human = hits.length === 0 ? [`No message contains "${untrusted(text)}".`] : [];
            for (const hit of hits) human.push(`[${formatTime(hit.message.sentAt)}] ${untrusted(hit.conversation?.title ?? 'unknown chat')}: ${untrusted(hit.message.text)}`);
            printResult(json, human.join('\n'), {
              query: text,
              hits: hits.map((h) => ({ message: h.message, conversationId: h.message.conversationId, title: h.conversation?.title })),
            });
          }
        } finally {
          progress.stop();
          cancel.dispose();
        }
      }),
    );
}
