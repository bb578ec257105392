// Vault subcommands: init, unlock-check, change-password, recover, status. All go through the
// contract offline (cli/client.ts withOfflineClient): the same checks, codes and sentences as the
// app. unlock-check and status use its diagnostics (vaultCheck, vaultInfo), which never open the
// messenger's session, so they answer for a vault whose messages are damaged too.
import { Option, type Command } from 'commander';
import type { VaultCheck } from '../../shared/api.ts';
import { Vault } from '../../main/vault/index.ts';
import { headerMissingMessage } from '../../main/vault/recovery-copy.ts';
import { action, CliError, ExitCode, globalOptions, printResult, promptHidden, readSecret, readStdin, requireVault, currentPassword, kdfFor } from '../io.ts';
import { allowWeakOption } from '../errors.ts';
import { checkNewPassword, refuseEmptyPassword, withOfflineClient } from '../client.ts';

/** What of the vault did not open, as one sentence after the counts; '' when everything did. */
function damageNote(r: VaultCheck): string {
  const parts = [
    ...(r.contacts === null ? ['the contact list'] : []),
    ...(r.conversations === null ? ['the conversation list'] : []),
    ...(r.damagedConversations.length > 0 ? [`the messages of ${r.damagedConversations.length} conversation${r.damagedConversations.length === 1 ? '' : 's'}`] : []),
  ];
  return parts.length === 0 ? '' : `\nDAMAGED: ${parts.join(', ')} do not open (a failed tag or an edited row); everything else reads.`;
}

const newPassword = () => readSecret({ envVar: 'EPHEMERA_NEW_PASSWORD', prompt: 'New password: ', confirm: true, what: 'new password' });

function formatPhrase(phrase: string): string {
  const words = phrase.split(' ');
  const rows: string[] = [];
  for (let i = 0; i < words.length; i += 6) {
    rows.push(
      words
        .slice(i, i + 6)
        .map((w, j) => `${String(i + j + 1).padStart(2)}. ${w.padEnd(9)}`)
        .join(' ')
        .trimEnd(),
    );
  }
  return rows.map((r) => `  ${r}`).join('\n');
}

export function register(program: Command): void {
  program
    .command('init')
    .description('create a new vault in the profile directory and print its recovery phrase (once)')
    .addOption(new Option('--kdf-test', 'use the smallest legal Argon2id parameters (tests only)').hideHelp())
    .addOption(allowWeakOption())
    .action(
      action(async (opts: { kdfTest?: boolean; allowWeak?: boolean }, cmd: Command) => {
        const g = globalOptions(cmd);
        const kdf = kdfFor(opts.kdfTest);
        if (Vault.exists(g.profile)) throw new CliError(`A vault already exists in ${g.profile}.`, ExitCode.VAULT_EXISTS, 'VAULT_EXISTS');
        // Before any prompt; Vault.create refuses the same (it never clears such a vault.db).
        if (Vault.headerLost(g.profile)) throw new CliError(headerMissingMessage(g.profile), ExitCode.VAULT_EXISTS, 'VAULT_EXISTS');
        const password = await readSecret({ envVar: 'EPHEMERA_PASSWORD', prompt: 'New password: ', confirm: true, what: 'password' });
        checkNewPassword(password, opts.allowWeak);
        const { recoveryPhrase, setAside } = await withOfflineClient(g.profile, (api) => api.createVault({ password }), { kdf, allowWeakSecrets: opts.allowWeak === true });
        const asideNote = setAside === undefined ? '' : `A vault.db without its header and without a recovery copy was found and moved aside to ${setAside} (not deleted).\n`;
        printResult(
          g.json,
          `${asideNote}Vault created in ${g.profile}.\n\nRecovery phrase — write it down now; it is shown only this once and opens the vault if you forget the password:\n\n${formatPhrase(recoveryPhrase)}\n`,
          { profile: g.profile, recoveryPhrase, kdf, ...(setAside === undefined ? {} : { setAside }) },
        );
      }),
    );

  program
    .command('unlock-check')
    .description('check that the password opens the vault (nothing is changed)')
    .action(
      action(async (_opts: unknown, cmd: Command) => {
        const g = globalOptions(cmd);
        requireVault(g.profile);
        const password = refuseEmptyPassword(await currentPassword());
        const r = await withOfflineClient(g.profile, (api) => api.vaultCheck({ password }));
        printResult(g.json, `OK: the password opens the vault in ${g.profile} (${r.messages} messages).${damageNote(r)}`, { profile: g.profile, ...r });
      }),
    );

  program
    .command('change-password')
    .description('set a new password (re-wraps the data key; the old password stops working)')
    .addOption(allowWeakOption())
    .action(
      action(async (opts: { allowWeak?: boolean }, cmd: Command) => {
        const g = globalOptions(cmd);
        requireVault(g.profile);
        const oldPassword = refuseEmptyPassword(await currentPassword());
        await withOfflineClient(
          g.profile,
          async (api) => {
            await api.unlock({ password: oldPassword });
            const next = await newPassword();
            checkNewPassword(next, opts.allowWeak);
            await api.changePassword({ oldPassword, newPassword: next });
          },
          { allowWeakSecrets: opts.allowWeak === true },
        );
        printResult(g.json, 'Password changed.', { profile: g.profile });
      }),
    );

  program
    .command('recover')
    .description('open the vault with the recovery phrase (read from standard input) and set a new password')
    .addOption(allowWeakOption())
    .action(
      action(async (opts: { allowWeak?: boolean }, cmd: Command) => {
        const g = globalOptions(cmd);
        // A lost vault.header.json is what recover is for: vault.db holds a recovery copy.
        if (!Vault.headerMissing(g.profile)) requireVault(g.profile);
        const phrase = process.stdin.isTTY ? await promptHidden('Recovery phrase (24 words): ') : await readStdin();
        if (phrase.trim().length === 0) throw new CliError('no recovery phrase on standard input', ExitCode.USAGE);
        const next = await newPassword();
        checkNewPassword(next, opts.allowWeak);
        await withOfflineClient(g.profile, (api) => api.unlockWithRecovery({ recoveryPhrase: phrase, newPassword: next }), { allowWeakSecrets: opts.allowWeak === true });
        printResult(g.json, 'Vault recovered; the new password is set.', { profile: g.profile });
      }),
    );

  program
    .command('status')
    .description('show whether a vault exists, its format and key-derivation parameters, and whether it is open elsewhere; with EPHEMERA_PASSWORD also counts')
    .action(
      action(async (_opts: unknown, cmd: Command) => {
        const g = globalOptions(cmd);
        const password = process.env.EPHEMERA_PASSWORD;
        const { info, check } = await withOfflineClient(g.profile, async (api) => {
          const found = await api.vaultInfo();
          // Counts only with a password and when no other process has the vault open.
          const counted = found.exists && password !== undefined && found.lockedBy === undefined ? await api.vaultCheck({ password: refuseEmptyPassword(password) }) : undefined;
          return { info: found, check: counted };
        });
        if (!info.exists) {
          printResult(g.json, `No vault in ${g.profile}.`, { profile: g.profile, exists: false });
          return;
        }
        const data: Record<string, unknown> = { profile: g.profile, ...info };
        const lines = [
          `Vault in ${g.profile}`,
          `  format:    ${info.format}`,
          `  kdf:       argon2id m=${info.kdf?.memoryKiB} KiB, t=${info.kdf?.iterations}, p=${info.kdf?.parallelism}`,
          `  open by:   ${info.lockedBy !== undefined ? `pid ${info.lockedBy}` : 'no other process'}`,
        ];
        if (check !== undefined) {
          Object.assign(data, check);
          const shown = (n: number | null): string => (n === null ? 'damaged' : String(n));
          lines.push(`  messages:  ${check.messages}`, `  conversations: ${shown(check.conversations)}`, `  contacts:  ${shown(check.contacts)}`);
        }
        printResult(g.json, lines.join('\n') + (check ? damageNote(check) : ''), data);
      }),
    );
}
