// Runs the real `ephemera` program with the search command registered (cli/ephemera.ts does
// not list cli/commands/search.ts yet; once it does, this is the same as running it).
import { CommanderError } from 'commander';
import { buildProgram } from '../../cli/ephemera.ts';
import * as search from '../../cli/commands/search.ts';

const program = buildProgram();
if (!program.commands.some((c) => c.name() === 'search')) search.register(program);
try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (!(err instanceof CommanderError)) throw err;
  process.exitCode = err.code === 'commander.helpDisplayed' || err.code === 'commander.help' ? 0 : 2;
}
