// `ephemera disappear CONTACT DURATION`: sets the conversation's disappearing-message timer
// through the contract (setDisappearingTimer), the same path as the app. The contact
// is told; messages sent from now on disappear that long after they are sent (for the contact:
// after they are first shown). `history --json` shows each message's timerSeconds and expiresAt.
import type { Command } from 'commander';
import { DISAPPEARING_SPELLINGS, disappearingLabel, parseDisappearing } from '../../shared/api/disappearing.ts';
import { checkHandle, CliError, ExitCode } from '../errors.ts';
import { action, globalOptions, printResult } from '../io.ts';
import { contactNamed, waitMs, withClient } from '../client.ts';

/** How long to wait for the relay (the change is sent like a text; it stays queued when offline). */
const WAIT_S = 10;

export function register(program: Command): void {
  program
    .command('disappear <handle> <duration>')
    .description(`set how long messages with a contact last: ${DISAPPEARING_SPELLINGS.join(', ')} (the contact is told; messages already sent keep their timer)`)
    .action(
      action(async (handle: string, duration: string, _opts: unknown, cmd: Command) => {
        const g = globalOptions(cmd);
        checkHandle(handle);
        // Refused before the password is asked.
        const seconds = parseDisappearing(duration);
        if (seconds === undefined) throw new CliError(`"${duration}" is not a duration: use one of ${DISAPPEARING_SPELLINGS.join(', ')}.`, ExitCode.USAGE);
        const { summary, delivered } = await withClient(g, WAIT_S, async (m) => {
          const c = await contactNamed(m, handle);
          const s = await m.setDisappearingTimer({ conversationId: c.conversationId, seconds });
          // The change travels like a text: wait until the relay has it (else it stays queued in the sealed outbox).
          const { done } = await m.sync({ timeoutMs: waitMs(WAIT_S), quietMs: 0 }).catch(() => ({ done: false }));
          return { summary: s, delivered: done };
        });
        const human = [
          seconds === 0 ? `Disappearing messages with ${handle} are off.` : `Messages with ${handle} now disappear after ${disappearingLabel(seconds)}.`,
          ...(delivered ? [] : [`The relay is not reachable: ${handle} is told when it is (the change waits in the outbox).`]),
        ].join('\n');
        printResult(g.json, human, { contact: handle, conversationId: summary.id, duration, timerSeconds: summary.timerSeconds ?? 0, queued: !delivered });
      }),
    );
}
