// Synthetic messages for the vault benchmarks: ids that sort by number, chats in turn, two
// directions, ~200 bytes of text each (the text itself is the caller's: what its index needs).
import { randomBytes } from 'node:crypto';
import type { NewMessage } from '../main/vault/api.ts';

export function makeMessageRows(count: number, start: number, conversations: number, text: (n: number) => string): NewMessage[] {
  const rows: NewMessage[] = new Array(count);
  const now = Date.now();
  for (let i = 0; i < count; i++) {
    const n = start + i;
    rows[i] = {
      id: `${n.toString(16).padStart(12, '0')}${randomBytes(10).toString('hex')}`,
      conversationId: `conv-${(n % conversations).toString().padStart(3, '0')}`,
      direction: n % 2 === 0 ? 'in' : 'out',
      sender: n % 2 === 0 ? 'contact-0001' : 'self',
      sentAt: now + n,
      receivedAt: now + n + 5,
      text: text(n).padEnd(200, 'lorem ipsum dolor sit amet '),
      state: 'received',
    };
  }
  return rows;
}
