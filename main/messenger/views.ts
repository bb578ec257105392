// The API's view of a message, one projection for stored history and opened backups alike.
import type { Message } from '../../shared/api.ts';
import { messageFields, type MessageFields } from '../backup/index.ts';

/** A stored or archived message as the contract shows it (a reply quote is added by the caller). */
export function messageView(m: MessageFields, orderKey: number): Message {
  const { id, conversationId, ...rest } = messageFields(m);
  // orderKey third, as the contract lists it (the CLI's --json output keeps that order).
  return { id, conversationId, orderKey, ...rest };
}
