// Which of the relay's nodes the client connects to, and how long it waits before trying again
// (client.ts asks; this holds no socket and no key).
import { randomInt } from 'node:crypto';
import { descriptorUrls, type RelayDescriptor } from '../../shared/protocol/descriptor.ts';

export interface Backoff {
  baseMs: number;
  maxMs: number;
}

// Reconnects back off to at most a second: a refused connection costs the relay nothing, and
// after a relay restart the time to come back is bounded by this cap (the target: a wave of
// 1000 clients re-bound within 3 s). Handshakes themselves are paced by the relay.
export const DEFAULT_BACKOFF: Backoff = { baseMs: 250, maxMs: 1000 };

/** Full jitter: a random delay in [cap/2, cap], cap doubling per failure up to maxMs. */
export function backoffDelay(backoff: Backoff, failures: number): number {
  const { baseMs, maxMs } = backoff;
  const cap = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(0, failures - 1), 16));
  return randomInt(Math.max(1, Math.floor(cap / 2)), Math.max(2, cap + 1));
}

export class NodeChoice {
  /** The relay's node URLs (one for a single relay). */
  readonly #urls: readonly string[];
  readonly #backoff: Backoff;
  /** The one tried next. */
  #url: string;
  /** The node of the last connection that opened: a key from another node is unknown here. */
  #openedUrl: string | undefined;
  /** Consecutive failed connection attempts (reset when a connection opens). */
  #failures = 0;

  constructor(descriptor: RelayDescriptor, backoff: Backoff) {
    this.#urls = descriptorUrls(descriptor);
    this.#backoff = backoff;
    // A random node first, so a cluster's clients spread over its nodes.
    this.#url = this.#urls[randomInt(this.#urls.length)]!;
  }

  get url(): string {
    return this.#url;
  }

  /**
   * A connection opened. True when the relay most likely no longer knows our temp key: the
   * failures count the lost connection too, so 2 or more means the relay refused or did not
   * answer at least one attempt (it most likely restarted); and a key bound on another node of
   * the cluster is unknown here, the same as a restart.
   */
  opened(): boolean {
    const relayWasDown = this.#failures >= 2 || (this.#openedUrl !== undefined && this.#openedUrl !== this.#url);
    this.#openedUrl = this.#url;
    this.#failures = 0;
    return relayWasDown;
  }

  /** A connection closed or failed to open: moves to the next node, returns the delay before trying it. */
  lost(): number {
    this.#failures++;
    // Several nodes: the next attempt goes to another one, picked at random, so the clients of a
    // node that died spread over the rest instead of all moving to the same next one.
    if (this.#urls.length > 1) {
      const others = this.#urls.filter((u) => u !== this.#url);
      this.#url = others[randomInt(others.length)]!;
      // That other node is most likely up: the first attempt waits anywhere in [0, base] rather
      // than [base/2, base], which spreads a dead node's clients over twice the window and
      // costs those that draw a short wait nothing. Later failures back off as usual.
      if (this.#failures === 1) return randomInt(0, this.#backoff.baseMs + 1);
    }
    return backoffDelay(this.#backoff, this.#failures);
  }
}
