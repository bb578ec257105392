// A small corpus with distinctive words in several scripts, and the exact ids each query form
// must find. Ids are 32 hex chars like the messenger's; times are fixed so date filters are exact.
import type { NewMessage } from '../../main/vault/api.ts';

export const DAY = 86_400_000;
export const T0 = Date.UTC(2025, 0, 1);

export function hexId(n: number): string {
  return n.toString(16).padStart(32, '0');
}

interface Row {
  n: number;
  conv: 'alpha' | 'beta' | 'gamma';
  day: number;
  text: string;
}

const ROWS: Row[] = [
  { n: 1, conv: 'alpha', day: 0, text: 'Meet me at the Zanzibarcafe tomorrow' },
  { n: 2, conv: 'alpha', day: 1, text: 'The ZANZIBARCAFE was closed, sadly' },
  { n: 3, conv: 'beta', day: 2, text: 'Crème brûlée at Quorvath bistro' },
  { n: 4, conv: 'beta', day: 3, text: 'creme BRULEE again? quorvath is great' },
  { n: 5, conv: 'alpha', day: 4, text: 'Die Großstraße ist lang' },
  { n: 6, conv: 'gamma', day: 5, text: 'Привет, Жуковлянка! Как дела?' },
  { n: 7, conv: 'gamma', day: 6, text: 'жуковлянка приедет завтра' },
  { n: 8, conv: 'beta', day: 7, text: '明日は東京タワーに行きます' },
  { n: 9, conv: 'beta', day: 8, text: '京都の寺はきれい' },
  { n: 10, conv: 'gamma', day: 9, text: '서울역에서 만나요' },
  { n: 11, conv: 'alpha', day: 10, text: 'plumbifex plumbifexation plumbing' },
  { n: 12, conv: 'alpha', day: 11, text: 'the red velvet blorptune cake' },
  { n: 13, conv: 'beta', day: 12, text: 'red cake, velvet blorptune curtains' },
  { n: 14, conv: 'gamma', day: 13, text: 'Ελληνικά: ΣΚΥΛΑΚΟΣ και σκυλάκος' },
  { n: 15, conv: 'gamma', day: 14, text: 'Vorpalynx vorpalynx VORPALYNX' },
];

export const CONVERSATIONS = ['alpha', 'beta', 'gamma'] as const;

export function corpus(): NewMessage[] {
  return ROWS.map((r) => ({
    id: hexId(r.n),
    conversationId: r.conv,
    direction: r.n % 2 === 0 ? 'out' : 'in',
    sender: r.n % 2 === 0 ? 'self' : 'contact-1',
    sentAt: T0 + r.day * DAY,
    receivedAt: T0 + r.day * DAY + 1000,
    text: r.text,
    state: r.n % 2 === 0 ? 'sent' : 'received',
  }));
}

export interface Case {
  name: string;
  text: string;
  conversationId?: string;
  from?: number;
  to?: number;
  /** Expected ids, newest first. */
  expect: number[];
}

export const CASES: Case[] = [
  { name: 'plain word', text: 'zanzibarcafe ', expect: [2, 1] },
  { name: 'case folded', text: 'ZaNzIbArCaFe ', expect: [2, 1] },
  { name: 'prefix of the last word', text: 'zanzib', expect: [2, 1] },
  { name: 'prefix does not extend earlier words', text: 'plumbifex plumbing', expect: [11] },
  { name: 'whole word without prefix', text: 'plumbifex ', expect: [11] },
  { name: 'prefix matches longer words', text: 'plumbife', expect: [11] },
  { name: 'diacritics folded (query without)', text: 'creme brulee ', expect: [4, 3] },
  { name: 'diacritics folded (query with)', text: 'Crème Brûlée ', expect: [4, 3] },
  { name: 'sharp s folds to ss', text: 'grossstrasse ', expect: [5] },
  { name: 'sharp s in the query', text: 'Großstraße ', expect: [5] },
  { name: 'Cyrillic case folded', text: 'ЖУКОВЛЯНКА ', expect: [7, 6] },
  { name: 'Cyrillic prefix', text: 'жуковлян', expect: [7, 6] },
  { name: 'Greek with final sigma and accents', text: 'σκυλακος ', expect: [14] },
  { name: 'phrase in order', text: '"red velvet"', expect: [12] },
  { name: 'words in any order', text: 'velvet red ', expect: [13, 12] },
  { name: 'phrase in other order', text: '"velvet red"', expect: [] },
  { name: 'CJK compound word inside a sentence', text: '東京タワー', expect: [8] },
  { name: 'CJK substring across dictionary words', text: 'タワーに', expect: [8] },
  { name: 'single Han char', text: '京', expect: [9, 8] },
  { name: 'CJK two chars', text: '京都', expect: [9] },
  { name: 'Hangul', text: '서울역', expect: [10] },
  { name: 'conversation filter', text: 'blorptune ', conversationId: 'beta', expect: [13] },
  { name: 'conversation filter excludes', text: 'zanzibarcafe ', conversationId: 'beta', expect: [] },
  { name: 'unknown conversation', text: 'zanzibarcafe ', conversationId: 'nope', expect: [] },
  { name: 'date filter from', text: 'zanzibarcafe ', from: T0 + 1 * DAY, expect: [2] },
  { name: 'date filter to', text: 'zanzibarcafe ', to: T0 + 1 * DAY - 1, expect: [1] },
  { name: 'date filter range', text: 'quorvath ', from: T0 + 2 * DAY, to: T0 + 2 * DAY, expect: [3] },
  { name: 'repeated word counted once', text: 'vorpalynx ', expect: [15] },
  { name: 'no match', text: 'nonexistentword ', expect: [] },
];

/** Words that must never appear in any profile file (checked as UTF-8 and UTF-16LE). */
export const SECRET_WORDS = [
  'zanzibarcafe',
  'Zanzibarcafe',
  'quorvath',
  'Quorvath',
  'plumbifex',
  'blorptune',
  'vorpalynx',
  'Жуковлянка',
  'жуковлянка',
  '東京タワー',
  '東京',
  'タワ',
  '서울역',
  'σκυλακος',
  'grossstrasse',
  'Großstraße',
  'brulee',
  'brûlée',
];
