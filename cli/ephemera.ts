#!/usr/bin/env -S node --import tsx
// `ephemera` command line client. Builds the program and registers the subcommand modules
// listed below; each module exports `register(program)`. Run: npm run cli -- --help
import { Command, CommanderError } from 'commander';
import { pathToFileURL } from 'node:url';
import { EXIT_CODES_HELP, ExitCode } from './io.ts';
import { forTerminal } from './terminal.ts';
import * as vaultCommands from './commands/vault.ts';
import * as messagingCommands from './commands/messaging.ts';
import * as groupCommands from './commands/groups.ts';
import * as backupCommands from './commands/backup.ts';
import * as searchCommands from './commands/search.ts';
import * as wipeCommands from './commands/wipe.ts';
import * as disappearCommands from './commands/disappear.ts';
import * as attachmentCommands from './commands/attachments.ts';

/** Subcommand modules, in help order. Add new modules here. */
const COMMAND_MODULES: readonly { register(program: Command): void }[] = [vaultCommands, messagingCommands, groupCommands, attachmentCommands, searchCommands, backupCommands, wipeCommands, disappearCommands];

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('ephemera')
    .description('Ephemera messenger command line client')
    .option('--profile <dir>', 'profile directory (default: $EPHEMERA_PROFILE)')
    .option('--json', 'machine-readable output (one JSON object on stdout)')
    .showHelpAfterError('(run ephemera --help for usage and exit codes)')
    // Usage errors quote the arguments, which a script may have taken from untrusted text.
    .configureOutput({ outputError: (str, write) => write(forTerminal(str)) })
    // Must precede the subcommands so they inherit it: usage errors become exit code 2.
    .exitOverride()
    .addHelpText('after', EXIT_CODES_HELP);
  for (const mod of COMMAND_MODULES) mod.register(program);
  return program;
}

export async function run(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return ExitCode.OK;
      return ExitCode.USAGE;
    }
    throw err;
  }
  return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.OK;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await run(process.argv);
}
