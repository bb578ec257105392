// `ephemera wipe`: "Delete all data" from the command line, through the contract's wipeProfile
// (the app's Settings button): the profile lock first, then the password, then the wipe.
import type { Command } from 'commander';
import { action, CliError, currentPassword, ExitCode, globalOptions, printNotice, printResult, promptHidden, requireVault } from '../io.ts';
import { refuseEmptyPassword, withOfflineClient } from '../client.ts';

export function register(program: Command): void {
  program
    .command('wipe')
    .description('delete all data: check the password, then overwrite and remove every file of the profile (backups/ inside it too) and the folder')
    .option('--yes', 'do not ask: take the password from EPHEMERA_PASSWORD (for scripts)')
    .action(
      action(async (opts: { yes?: boolean }, cmd: Command) => {
        const g = globalOptions(cmd);
        requireVault(g.profile);
        let password: string;
        if (opts.yes === true) {
          password = await currentPassword();
        } else {
          // Typing the password at the terminal is the confirmation: an EPHEMERA_PASSWORD left in
          // a script's environment must not be enough to delete everything.
          if (!process.stdin.isTTY) throw new CliError('wipe deletes all data: run it in a terminal to be asked for the password, or pass --yes with EPHEMERA_PASSWORD', ExitCode.USAGE);
          printNotice(`This overwrites and deletes every file in ${g.profile}, including backups kept there. It cannot be undone.`);
          password = await promptHidden('Password to delete all data: ');
        }
        refuseEmptyPassword(password);
        const summary = await withOfflineClient(g.profile, (api) => api.wipeProfile({ password }));
        printResult(g.json, `All data deleted: ${summary.files} files overwritten and removed, and ${g.profile} is gone.`, { profile: g.profile, ...summary });
      }),
    );
}
