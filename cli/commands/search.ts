// `ephemera search TEXT [--chat NAME] [--limit N] [--order newest|relevance] [--from DATE] [--to DATE]`
// Offline full-text search of the vault (docs/search.md), through the contract (cli/client.ts):
// the messenger opened offline unlocks (opening the sealed index snapshot, or rebuilding it),
// the contract's search answers, and locking writes the snapshot back if the tail changed it.
// Parameters get the same checks, codes and sentences as in the app.
import { Option, type Command } from 'commander';
import { MAX_SEARCH_HITS, type Contact, type ConversationSummary, type SearchHit, type SearchResult } from '../../shared/api.ts';
import { refuseEmptyPassword, withOfflineClient } from '../client.ts';
import { action, CliError, ExitCode, globalOptions, printResult, requireVault, currentPassword } from '../io.ts';
import { MARK_END, MARK_START, untrusted } from '../terminal.ts';

const MAX_LIMIT = MAX_SEARCH_HITS;

/**
 * Finds a conversation by id, contact handle, or exact title (case-insensitive). Ambiguous or
 * unknown names are usage errors that list what exists, so a script never searches the wrong chat.
 */
export function resolveConversation(all: readonly ConversationSummary[], contacts: readonly Contact[], name: string): ConversationSummary {
  const handleOf = new Map(contacts.map((c) => [c.id, c.handle]));
  const byId = all.find((c) => c.id === name);
  if (byId) return byId;
  const wanted = name.trim().toLocaleLowerCase();
  // A contact handle is unique; titles are not, so a handle wins over a title.
  const byHandle = all.filter((c) => handleOf.get(c.contactId)?.toLocaleLowerCase() === wanted);
  if (byHandle.length === 1 && byHandle[0]) return byHandle[0];
  const matches = all.filter((c) => c.title.toLocaleLowerCase() === wanted);
  if (matches.length === 1 && matches[0]) return matches[0];
  if (matches.length > 1) {
    // Named by their contacts' handles (unique), not by opaque ids; the id still works in --chat.
    const handles = matches.map((c) => handleOf.get(c.contactId) ?? '?').join(', ');
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

/** The contract's snippet parts as the CLI prints them: the text and where its matches are. */
export function snippetOf(hit: SearchHit): { text: string; highlights: { start: number; end: number }[] } {
  let text = '';
  const highlights: { start: number; end: number }[] = [];
  for (const part of hit.snippet) {
    if (part.match) highlights.push({ start: text.length, end: text.length + part.text.length });
    text += part.text;
  }
  return { text, highlights };
}

/** The snippet with its matches between highlight marks (inverse video or [brackets] at output). */
function highlighted(hit: SearchHit): string {
  return hit.snippet.map((p) => (p.match ? `${MARK_START}${untrusted(p.text)}${MARK_END}` : untrusted(p.text))).join('');
}

interface SearchOptions {
  chat?: string;
  limit: string;
  order: 'newest' | 'relevance';
  from?: string;
  to?: string;
}

function printHits(
  json: boolean,
  query: string,
  order: SearchOptions['order'],
  { conversations, contacts, chat, result }: { conversations: ConversationSummary[]; contacts: Contact[]; chat: ConversationSummary | undefined; result: SearchResult },
): void {
  const hits = result.hits;
  const titles = new Map(conversations.map((c) => [c.id, c.title]));
  const titleOf = (h: SearchHit): string | null => titles.get(h.conversationId) ?? (h.conversationTitle === '' ? null : h.conversationTitle);
  // People see chat titles and handles; the opaque ids are in --json only. An incoming
  // message's sender is its contact's id; in a direct chat that is the chat's contact.
  const handles = new Map(contacts.map((c) => [c.id, c.handle]));
  const chatHandles = new Map(conversations.map((c) => [c.id, handles.get(c.contactId)]));
  const senderOf = (h: SearchHit): string => (h.sender !== undefined ? handles.get(h.sender) : undefined) ?? chatHandles.get(h.conversationId) ?? 'unknown contact';
  const lines = hits.map((h) => {
    const when = new Date(h.sentAt).toISOString().replace('T', ' ').slice(0, 16);
    const who = h.direction === 'out' ? 'me' : senderOf(h);
    return `${when}  ${untrusted(titleOf(h) ?? 'unknown chat')}  ${untrusted(who)}\n    ${highlighted(h)}`;
  });
  const human = hits.length === 0 ? 'No messages found.' : `${lines.join('\n')}\n${hits.length} result${hits.length === 1 ? '' : 's'}.`;
  printResult(json, human, {
    query,
    ...(chat ? { chat: { id: chat.id, title: chat.title } } : {}),
    results: hits.map((h) => ({
      id: h.messageId,
      conversationId: h.conversationId,
      chat: titleOf(h),
      sender: h.sender ?? null,
      direction: h.direction,
      sentAt: h.sentAt,
      sentAtIso: new Date(h.sentAt).toISOString(),
      orderKey: h.orderKey ?? null,
      snippet: snippetOf(h),
      ...(order === 'relevance' ? { score: h.score ?? null } : {}),
    })),
  });
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
        const limit = parseLimit(opts.limit);
        const from = opts.from !== undefined ? parseDate(opts.from, '--from') : undefined;
        const to = opts.to !== undefined ? parseDate(opts.to, '--to') : undefined;
        if (text.trim().length === 0) throw new CliError('nothing to search for', ExitCode.USAGE);
        requireVault(g.profile);
        const password = refuseEmptyPassword(await currentPassword());
        const found = await withOfflineClient(g.profile, async (api) => {
          // Unlocking opens the index, which is rebuilt (reading every message) when it has no usable snapshot.
          const showProgress = !g.json && process.stderr.isTTY;
          if (showProgress) process.stderr.write('opening the vault and its search index...');
          try {
            await api.unlock({ password });
          } finally {
            if (showProgress) process.stderr.write('\r\u001b[K');
          }
          const [conversations, contacts] = await Promise.all([api.conversationsList({}), api.contactsList()]);
          const chat = opts.chat !== undefined ? resolveConversation(conversations, contacts, opts.chat) : undefined;
          const result = await api.search({
            query: text,
            order: opts.order,
            limit,
            ...(chat ? { conversationId: chat.id } : {}),
            ...(from !== undefined ? { from } : {}),
            ...(to !== undefined ? { to } : {}),
          });
          return { conversations, contacts, chat, result };
        });
        printHits(g.json, text, opts.order, found);
      }),
    );
}
