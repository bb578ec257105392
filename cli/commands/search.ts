// `ephemera search TEXT [--chat NAME] [--limit N] [--order newest|relevance] [--from DATE] [--to DATE]`
// Offline full-text search of the vault (docs/search.md). Opens the sealed index snapshot (or
// rebuilds it), searches, and writes the updated snapshot back before locking.
import { Option, type Command } from 'commander';
import type { ConversationRecord, VaultHandle } from '../../main/vault/api.ts';
import { Vault } from '../../main/vault/index.ts';
import { MAX_LIMIT } from '../../main/search/index-db.ts';
import { SearchService, type SearchHit, type SearchRequest } from '../../main/search/service.ts';
import { action, CliError, ExitCode, globalOptions, printResult, requireVault, currentPassword } from '../io.ts';
import { MARK_END, MARK_START, untrusted } from '../terminal.ts';

/**
 * Finds a conversation by id, contact handle, or exact title (case-insensitive). Ambiguous or
 * unknown names are usage errors that list what exists, so a script never searches the wrong chat.
 */
export function resolveConversation(vault: VaultHandle, name: string): ConversationRecord {
  const all = vault.listConversations();
  const byId = all.find((c) => c.id === name);
  if (byId) return byId;
  const wanted = name.trim().toLocaleLowerCase();
  // A contact handle is unique; titles are not, so a handle wins over a title.
  const byHandle = all.filter((c) => vault.getContact(c.contactId)?.handle.toLocaleLowerCase() === wanted);
  if (byHandle.length === 1 && byHandle[0]) return byHandle[0];
  const matches = all.filter((c) => c.title.toLocaleLowerCase() === wanted);
  if (matches.length === 1 && matches[0]) return matches[0];
  if (matches.length > 1) {
    // Named by their contacts' handles (unique), not by opaque ids; the id still works in --chat.
    const handles = matches.map((c) => vault.getContact(c.contactId)?.handle ?? '?').join(', ');
    throw new CliError(`"${name}" names ${matches.length} chats (with ${handles}); use the contact's handle`, ExitCode.USAGE, 'AMBIGUOUS_CHAT');
  }
  throw new CliError(`no chat named "${name}"`, ExitCode.USAGE, 'NO_SUCH_CHAT');
}

function parseLimit(value: string): number {
  if (!/^\d+$/.test(value)) throw new CliError(`--limit must be a whole number from 1 to ${MAX_LIMIT}`, ExitCode.USAGE);
  const n = Number(value);
  if (n < 1 || n > MAX_LIMIT) throw new CliError(`--limit must be a whole number from 1 to ${MAX_LIMIT}`, ExitCode.USAGE);
  return n;
}

/** YYYY-MM-DD (UTC day; `--to` includes the whole day) or a full ISO timestamp. */
function parseDate(value: string, flag: '--from' | '--to'): number {
  const day = /^\d{4}-\d{2}-\d{2}$/.test(value);
  const ms = Date.parse(day ? `${value}T00:00:00Z` : value);
  if (!Number.isFinite(ms) || !/^\d{4}-\d{2}-\d{2}/.test(value)) throw new CliError(`${flag} must be a date like 2025-01-31 or an ISO timestamp`, ExitCode.USAGE);
  return day && flag === '--to' ? ms + 86_400_000 - 1 : ms;
}

/** The snippet with its matches between highlight marks (inverse video or [brackets] at output). */
function highlighted(hit: SearchHit): string {
  const { text, highlights } = hit.snippet;
  let out = '';
  let at = 0;
  for (const h of highlights) {
    out += untrusted(text.slice(at, h.start));
    out += `${MARK_START}${untrusted(text.slice(h.start, h.end))}${MARK_END}`;
    at = h.end;
  }
  return out + untrusted(text.slice(at));
}

interface SearchOptions {
  chat?: string;
  limit: string;
  order: 'newest' | 'relevance';
  from?: string;
  to?: string;
}

export function register(program: Command): void {
  program
    .command('search')
    .description('search message history offline (case- and accent-insensitive; "quoted phrases"; the last word is a prefix)')
    .argument('<text>', 'what to search for')
    .option('--chat <name>', 'only this chat (title, contact handle or id)')
    .option('--limit <n>', `at most this many results (1-${MAX_LIMIT})`, '20')
    .addOption(new Option('--order <order>', 'result order').choices(['newest', 'relevance']).default('newest'))
    .option('--from <date>', 'only messages sent on or after this date (YYYY-MM-DD, UTC)')
    .option('--to <date>', 'only messages sent on or before this date (YYYY-MM-DD, UTC)')
    .action(
      action(async (text: string, opts: SearchOptions, cmd: Command) => {
        const g = globalOptions(cmd);
        const request: SearchRequest = { text, limit: parseLimit(opts.limit), order: opts.order };
        if (opts.from !== undefined) request.from = parseDate(opts.from, '--from');
        if (opts.to !== undefined) request.to = parseDate(opts.to, '--to');
        if (text.trim().length === 0) throw new CliError('nothing to search for', ExitCode.USAGE);
        requireVault(g.profile);
        const password = await currentPassword();
        const vault = await Vault.unlock(g.profile, password);
        let service: SearchService | undefined;
        try {
          const chat = opts.chat !== undefined ? resolveConversation(vault, opts.chat) : undefined;
          if (chat) request.conversationId = chat.id;
          const showProgress = !g.json && process.stderr.isTTY;
          service = await SearchService.open(vault, {
            onRebuildProgress: (done, total) => {
              if (showProgress) process.stderr.write(`\rbuilding the search index: ${done}/${total}`);
            },
          });
          if (showProgress && service.openedFrom === 'rebuild') process.stderr.write('\n');
          const hits = service.search(request);
          const conversations = vault.listConversations();
          const titles = new Map(conversations.map((c) => [c.id, c.title]));
          // People see chat titles and handles; the opaque ids are in --json only. An incoming
          // message's sender is its contact's id; in a direct chat that is the chat's contact.
          const chatHandles = new Map(conversations.map((c) => [c.id, vault.getContact(c.contactId)?.handle]));
          const senderOf = (h: SearchHit): string => vault.getContact(h.sender)?.handle ?? chatHandles.get(h.conversationId) ?? 'unknown contact';
          const lines = hits.map((h) => {
            const when = new Date(h.sentAt).toISOString().replace('T', ' ').slice(0, 16);
            const who = h.direction === 'out' ? 'me' : senderOf(h);
            return `${when}  ${untrusted(titles.get(h.conversationId) ?? 'unknown chat')}  ${untrusted(who)}\n    ${highlighted(h)}`;
          });
          const human = hits.length === 0 ? 'No messages found.' : `${lines.join('\n')}\n${hits.length} result${hits.length === 1 ? '' : 's'}.`;
          printResult(g.json, human, {
            query: text,
            ...(chat ? { chat: { id: chat.id, title: chat.title } } : {}),
            results: hits.map((h) => ({
              id: h.id,
              conversationId: h.conversationId,
              chat: titles.get(h.conversationId) ?? null,
              sender: h.sender,
              direction: h.direction,
              sentAt: h.sentAt,
              sentAtIso: new Date(h.sentAt).toISOString(),
              orderKey: h.orderKey,
              snippet: h.snippet,
              ...(request.order === 'relevance' ? { score: h.score } : {}),
            })),
          });
          service.close(); // writes the snapshot if the tail changed it
          service = undefined;
        } finally {
          service?.discard();
          vault.lock();
        }
      }),
    );
}
