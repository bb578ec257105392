// Disappearing-message timers: the durations a conversation's timer may take, their
// CLI spellings and how the UI names them. Under shared/api/ because the renderer, the CLI and
// main all use them (the renderer may import only shared/api*).
import { z } from 'zod';

/** Every allowed timer in seconds, shortest first; 0 is "off". */
export const DISAPPEARING_SECONDS = [0, 30, 300, 3600, 8 * 3600, 86_400, 7 * 86_400, 28 * 86_400] as const;
export type DisappearingSeconds = (typeof DISAPPEARING_SECONDS)[number];
export const DISAPPEARING_MAX_SECONDS = 28 * 86_400;

/** A conversation's timer as the contract carries it: one of DISAPPEARING_SECONDS. */
export const DisappearingTimer = z
  .number()
  .int()
  .refine((n) => isDisappearingSeconds(n), { message: `must be one of ${DISAPPEARING_SECONDS.join(', ')} seconds` });

/** The CLI's spellings (`ephemera disappear CONTACT DURATION`), in the same order. */
export const DISAPPEARING_SPELLINGS = ['off', '30s', '5m', '1h', '8h', '1d', '1w', '4w'] as const;
export type DisappearingSpelling = (typeof DISAPPEARING_SPELLINGS)[number];

const LABELS = ['off', '30 seconds', '5 minutes', '1 hour', '8 hours', '1 day', '1 week', '4 weeks'] as const;

export function isDisappearingSeconds(n: unknown): n is DisappearingSeconds {
  return typeof n === 'number' && (DISAPPEARING_SECONDS as readonly number[]).includes(n);
}

/** Seconds for a CLI spelling ('off', '30s', ... '4w'), or undefined. */
export function parseDisappearing(spelling: string): DisappearingSeconds | undefined {
  const i = (DISAPPEARING_SPELLINGS as readonly string[]).indexOf(spelling);
  return i < 0 ? undefined : DISAPPEARING_SECONDS[i];
}

export function disappearingSpelling(seconds: number): DisappearingSpelling | undefined {
  const i = (DISAPPEARING_SECONDS as readonly number[]).indexOf(seconds);
  return i < 0 ? undefined : DISAPPEARING_SPELLINGS[i];
}

/** "1 hour", "off"; an unknown value as seconds. */
export function disappearingLabel(seconds: number): string {
  const i = (DISAPPEARING_SECONDS as readonly number[]).indexOf(seconds);
  return i < 0 ? `${seconds} seconds` : (LABELS[i] as string);
}

/** The system line of a timer change: "alice set messages to disappear after 1 hour". */
export function timerChangeLine(who: string, seconds: number): string {
  return seconds === 0 ? `${who} turned off disappearing messages` : `${who} set messages to disappear after ${disappearingLabel(seconds)}`;
}

/** Time left as the UI shows it: "29s", "4m", "7h", "3d" (rounded up; "0s" when due). */
export function remainingLabel(ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.ceil(s / 60)}m`;
  if (s < 86_400) return `${Math.ceil(s / 3600)}h`;
  return `${Math.ceil(s / 86_400)}d`;
}

/**
 * Whether a `message` event is a new arrival to notify about: an incoming text, not a timer
 * change, and not a received message whose countdown already runs (the messenger announces that
 * one again when it is first shown, with its expiry).
 */
export function isNewArrival(m: { direction: 'in' | 'out'; timerChange?: unknown; expiresAt?: number | null }): boolean {
  return m.direction === 'in' && m.timerChange === undefined && typeof m.expiresAt !== 'number';
}
