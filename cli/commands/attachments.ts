// Attachment subcommands: send-file and save-attachment. Each opens the profile,
// calls the contract (shared/api.ts sendFile, saveAttachment) in-process through cli/client.ts,
// and shows the transfer's progress as a bar on stderr when it is a terminal.
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import cliProgress from 'cli-progress';
import type { EphemeraClient } from '../../shared/api/rpc.ts';
import { action, CliError, ExitCode, globalOptions, printResult } from '../io.ts';
import { groupId } from './groups.ts';
import { checkHandle } from '../errors.ts';
import { contactNamed, waitMs, waitSeconds, withClient } from '../client.ts';

const DEFAULT_WAIT_S = 30;

function caption(v: string): string {
  if (v.length === 0 || v.length > 32 * 1024) throw new InvalidArgumentError('must be 1 to 32768 characters');
  return v;
}

/** A bar on stderr for the job's attachmentProgress events when it is a terminal (and not --json). */
function progressBar(api: EphemeraClient, jobId: string, json: boolean, label: string): () => void {
  if (json || !process.stderr.isTTY) return () => {};
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: `${label} [{bar}] {percentage}% | {value}/{total} bytes`, hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  const off = api.on('attachmentProgress', (p) => {
    if (p.jobId !== jobId) return;
    if (!started) {
      started = true;
      bar.start(p.total, p.done);
    } else bar.update(p.done);
  });
  return () => {
    off();
    if (started) bar.stop();
  };
}

const newJobId = (): string => randomBytes(12).toString('base64url');

/** Ctrl-C cancels the transfer (nothing is kept; the partial upload is withdrawn) instead of killing the process. */
function cancelOnSigint(api: EphemeraClient, jobId: string): () => void {
  const onSigint = (): void => void api.attachmentCancel({ jobId }).catch(() => undefined);
  process.on('SIGINT', onSigint);
  return () => process.off('SIGINT', onSigint);
}

export function register(program: Command): void {
  program
    .command('send-file <contact> [path]')
    .description('send a file (CONTACT PATH, or --group GROUP_ID PATH): sealed with its own key, uploaded to the relay once, announced end to end (with a progress bar on a terminal)')
    .option('--group <group-id>', "send to a group's current members instead (then the one argument is the PATH)")
    .option('--caption <text>', 'a caption sent with the file', caption)
    .option('--wait <seconds>', 'how long to wait for the relay at each step', waitSeconds, DEFAULT_WAIT_S)
    .action(
      action(async (target: string, maybePath: string | undefined, opts: { group?: string; caption?: string; wait: number }, cmd: Command) => {
        const g = globalOptions(cmd);
        if (opts.group !== undefined) {
          if (maybePath !== undefined) throw new CliError('With --group give only the PATH.', ExitCode.USAGE);
          groupId(opts.group);
        } else {
          if (maybePath === undefined) throw new CliError('Give the CONTACT and the PATH (or --group GROUP_ID PATH).', ExitCode.USAGE);
          checkHandle(target);
        }
        const path = opts.group !== undefined ? target : maybePath!;
        const result = await withClient(g, opts.wait, async (api) => {
          // A group's conversation is `g<group id>` (shared/api.ts GroupInfo.conversationId).
          const conversationId = opts.group !== undefined ? (await api.groupInfo({ groupId: opts.group })).conversationId : (await contactNamed(api, target)).conversationId;
          const jobId = newJobId();
          const stop = progressBar(api, jobId, g.json, 'upload');
          const release = cancelOnSigint(api, jobId);
          try {
            const sent = await api.sendFile({ conversationId, path: resolve(path), jobId, ...(opts.caption !== undefined ? { caption: opts.caption } : {}) });
            const [attachment] = await api.attachmentsOf({ messageIds: [sent.id] });
            // The E2E message goes out through the sealed outbox, like a text.
            await api.sync({ timeoutMs: waitMs(opts.wait), quietMs: 100 });
            return { message: sent.id, attachment: attachment?.id, size: attachment?.size, outbox: (await api.connectionState()).outboxSize };
          } finally {
            release();
            stop();
          }
        });
        printResult(g.json, result.outbox > 0 ? 'Uploaded; the message is queued in the sealed outbox and goes out with the next send or sync.' : 'Sent.', result);
      }),
    );

  program
    .command('save-attachment <attachment-id> <path>')
    .description('write an attachment (its id from history --json) to PATH, downloading it first if needed; checked against the sender\'s digest before anything is written')
    .option('--wait <seconds>', 'how long to wait for the relay', waitSeconds, DEFAULT_WAIT_S)
    .action(
      action(async (attachmentId: string, path: string, opts: { wait: number }, cmd: Command) => {
        const g = globalOptions(cmd);
        const target = resolve(path);
        const result = await withClient(g, opts.wait, async (api) => {
          const jobId = newJobId();
          const stop = progressBar(api, jobId, g.json, 'download');
          const release = cancelOnSigint(api, jobId);
          try {
            return await api.saveAttachment({ attachmentId, path: target, jobId });
          } finally {
            release();
            stop();
          }
        });
        printResult(g.json, `Saved ${result.bytes} bytes to ${target}.`, { path: target, bytes: result.bytes });
      }),
    );
}
