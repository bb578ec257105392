// Pure helpers for the screens (no React, no DOM), unit-tested in test/renderer.
import type { ConnectionState, Message } from '../../shared/api.ts';

// The strength estimate and the minimum are the shared policy (shared/api/password-policy.ts):
// main and the CLI refuse exactly what this screen calls too weak.
export { estimateStrength as estimatePasswordStrength, MIN_STRENGTH_SCORE as MIN_PASSWORD_SCORE, type StrengthEstimate } from '../../shared/api/password-policy.ts';

/** Lowercase, single spaces, no surrounding space: how phrases are compared and sent. */
export function normalizePhrase(text: string): string {
  return text.toLowerCase().split(/\s+/).filter(Boolean).join(' ');
}

export function phraseWords(text: string): string[] {
  const n = normalizePhrase(text);
  return n === '' ? [] : n.split(' ');
}

/** 60 digits -> 12 groups of 5, as both devices show them. */
export function groupSafetyNumber(digits: string): string[] {
  const groups: string[] = [];
  for (let i = 0; i < digits.length; i += 5) groups.push(digits.slice(i, i + 5));
  return groups;
}

export type TimelineRow = { kind: 'day'; key: string; label: string } | { kind: 'message'; key: string; message: Message };

function dayKey(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`;
}

export function dayLabel(ms: number, now = Date.now()): string {
  const key = dayKey(ms);
  if (key === dayKey(now)) return 'Today';
  if (key === dayKey(now - 86_400_000)) return 'Yesterday';
  return new Date(ms).toLocaleDateString(undefined, { weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' });
}

/** Messages (ascending) -> rows with a day separator before the first message of each day. */
export function buildTimeline(messages: readonly Message[], now = Date.now()): TimelineRow[] {
  const rows: TimelineRow[] = [];
  let lastDay = '';
  for (const message of messages) {
    const day = dayKey(message.sentAt);
    if (day !== lastDay) {
      rows.push({ kind: 'day', key: `day-${day}-${message.id}`, label: dayLabel(message.sentAt, now) });
      lastDay = day;
    }
    rows.push({ kind: 'message', key: message.id, message });
  }
  return rows;
}

/** Merges a page into the loaded window: dedupes by id, keeps ascending orderKey. */
export function mergeMessages(current: readonly Message[], incoming: readonly Message[]): Message[] {
  const byId = new Map<string, Message>();
  for (const m of current) byId.set(m.id, m);
  for (const m of incoming) byId.set(m.id, m);
  return [...byId.values()].sort((a, b) => a.orderKey - b.orderKey);
}

export const DELIVERY_LABELS: Record<Message['state'], string> = {
  queued: 'Waiting to send',
  sent: 'Sent',
  delivered: 'Delivered',
  read: 'Read',
  received: 'Received',
  failed: 'Not sent',
};

export function formatTime(ms: number): string {
  return new Date(ms).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}

/** "in 23 h", "in 5 min", "expired" for the temp key's expiry. */
export function formatRemaining(untilMs: number, now = Date.now()): string {
  const s = Math.round((untilMs - now) / 1000);
  if (s <= 0) return 'expired';
  if (s < 90) return `in ${s} s`;
  const m = Math.round(s / 60);
  if (m < 90) return `in ${m} min`;
  return `in ${Math.round(m / 60)} h`;
}

/** A random job id for backup calls (so progress events can be matched before the call returns). */
export function newJobId(random: (n: number) => Uint8Array): string {
  return [...random(12)].map((b) => b.toString(16).padStart(2, '0')).join('');
}


export interface ConnectionDescription {
  /** Short text shown in the indicator, naming the temp-key state. */
  label: string;
  /** Longer text for the tooltip / accessible description. */
  detail: string;
  tone: 'ok' | 'busy' | 'off';
}

/** What the indicator says while the vault's durability is lost (ConnectionCause 'disk_write_failed'). */
export const DISK_WRITE_FAILED_ADVICE =
  'Ephemera could not write to disk. Free space or check the drive, then lock and unlock to retry. Nothing was sent or acknowledged since.';

export function describeConnection(state: ConnectionState, now = Date.now()): ConnectionDescription {
  // Whatever the phase of the retry cycle, a relay that failed the pin / identity key check is
  // named as such: the user must not read it as "connecting" or a network problem.
  if (state.phase !== 'ready' && state.cause === 'relay_identity_mismatch') {
    return {
      label: 'Relay not trusted',
      detail: `The server at ${state.relayUrl ?? 'the relay address'} is not the relay your descriptor names (its certificate or identity key does not match). Someone may be intercepting the connection; nothing is sent to it. Check the relay descriptor with its operator.`,
      tone: 'off',
    };
  }
  // Not a network problem: the relay is fine, this device's disk is not. Says what to do.
  if (state.cause === 'disk_write_failed') {
    const waiting = state.outboxSize > 0 ? ` ${state.outboxSize} message${state.outboxSize === 1 ? '' : 's'} will be sent after the unlock.` : '';
    return { label: 'Could not write to disk', detail: `${DISK_WRITE_FAILED_ADVICE}${waiting}`, tone: 'off' };
  }
  const expiry = state.tempKeyExpiresAt !== null ? `Temporary key expires ${formatRemaining(state.tempKeyExpiresAt, now)}.` : '';
  const queued = state.outboxSize > 0 ? ` ${state.outboxSize} message${state.outboxSize === 1 ? '' : 's'} waiting to send.` : '';
  switch (state.phase) {
    case 'ready':
      return { label: 'Ready', detail: `Connected to ${state.relayUrl ?? 'the relay'} with a bound temporary key. ${expiry}${queued}`.trim(), tone: 'ok' };
    case 'connecting':
      return { label: 'Connecting', detail: `Connecting to the relay.${queued}`, tone: 'busy' };
    case 'handshaking':
      return { label: 'Handshaking', detail: `Making a new temporary key with the relay.${queued}`, tone: 'busy' };
    case 'binding':
      return { label: 'Binding', detail: `Binding the new temporary key to this device's permanent key.${queued}`, tone: 'busy' };
    case 'rebinding': {
      const why =
        state.cause === 'relay_forgot_key'
          ? 'The relay forgot our temporary key (404); making and binding a new one.'
          : 'Re-binding a new temporary key.';
      return { label: 'Re-binding', detail: `${why}${queued}`, tone: 'busy' };
    }
    case 'offline': {
      const why =
        state.cause === 'locked'
          ? 'Locked: no keys in memory.'
          : state.cause === 'not_registered'
            ? 'Not registered with a relay yet.'
            : 'The relay cannot be reached. History and search still work.';
      return { label: 'Offline', detail: `${why}${queued}`, tone: 'off' };
    }
  }
}
