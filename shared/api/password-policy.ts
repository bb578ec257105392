// One strength policy for every secret a person chooses: vault passwords (create, change,
// recover) and backup passphrases. The renderer shows this estimate, and main (the messenger)
// and the CLI refuse what it calls weak, so a modified or buggy UI cannot set a weak secret.
// Under shared/api/ because the renderer may import only shared/api* (eslint.config.js).
//
// The estimate is zxcvbn-ts with the common and English dictionaries: it finds common
// passwords, names, words, dates, keyboard walks, repeats and l33t substitutions, which a
// character-class count cannot.
import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import * as common from '@zxcvbn-ts/language-common';
import * as en from '@zxcvbn-ts/language-en';

export type StrengthScore = 0 | 1 | 2 | 3 | 4;
export type StrengthLabel = 'Very weak' | 'Weak' | 'Fair' | 'Good' | 'Strong';

export interface StrengthEstimate {
  /** zxcvbn's score: 0 (too guessable) .. 4 (very unguessable). */
  score: StrengthScore;
  label: StrengthLabel;
  /** log2 of the estimated number of guesses, rounded. */
  bits: number;
  /** One sentence on what to do (or that it is good). */
  hint: string;
}

/**
 * The lowest accepted score. zxcvbn's 3 is at least 10^8 guesses, its "moderate protection
 * from an offline slow-hash attack": the vault and passphrase backups are exactly that case
 * (Argon2id, scrypt), and a stolen file can be attacked offline without limit.
 */
export const MIN_STRENGTH_SCORE: StrengthScore = 3;

const LABELS: readonly StrengthLabel[] = ['Very weak', 'Weak', 'Fair', 'Good', 'Strong'];

let factory: ZxcvbnFactory | undefined;

/** Built at first use: the dictionaries take a moment to index. */
function zxcvbn(): ZxcvbnFactory {
  factory ??= new ZxcvbnFactory({
    dictionary: { ...common.dictionary, ...en.dictionary },
    graphs: common.adjacencyGraphs,
    translations: en.translations,
  });
  return factory;
}

/** The strength of `secret`; `context` are words a guesser would try first (the handle, "ephemera"). */
export function estimateStrength(secret: string, context: readonly string[] = []): StrengthEstimate {
  if (secret.length === 0) return { score: 0, label: 'Very weak', bits: 0, hint: 'Type a password.' };
  const r = zxcvbn().check(secret, ['ephemera', ...context]);
  const score = r.score as StrengthScore;
  const advice = [r.feedback.warning, ...r.feedback.suggestions].filter((s): s is string => typeof s === 'string' && s.length > 0);
  const hint =
    score >= MIN_STRENGTH_SCORE
      ? 'Good. A few random words make a password that is long and easy to remember.'
      : advice.length > 0
        ? `${advice.join(' ')} Several random words work well.`
        : 'Make it longer: several random words work well.';
  return { score, label: LABELS[score] ?? 'Very weak', bits: Math.round(r.guessesLog10 * Math.log2(10)), hint };
}

/**
 * Why `secret` is refused as a `what` ("password", "backup passphrase"), or undefined when it
 * is strong enough. The sentence names the estimate and what to do, never the secret.
 */
export function weakSecretReason(secret: string, what: string, context: readonly string[] = []): string | undefined {
  const e = estimateStrength(secret, context);
  if (e.score >= MIN_STRENGTH_SCORE) return undefined;
  return `This ${what} is too weak (${e.label}, about ${e.bits} bits; at least "${LABELS[MIN_STRENGTH_SCORE]}" is needed). ${e.hint}`;
}
