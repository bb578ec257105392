// Typed relay methods on top of RelayClient: register a handle, resolve one, send an opaque
// envelope (durable, idempotent), and receive pushed envelopes in order with acknowledgement.
// Issue 4 (messaging) adds prekey methods the same way.
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Value } from '../../shared/protocol/value.ts';
import type { RelayClient } from './client.ts';

const bytes = z.custom<Uint8Array>((v) => v instanceof Uint8Array);
const ResolveResult = z.object({ handle: z.string(), permKeyId: bytes, permPub: bytes });
const SendResult = z.object({ id: z.number().int().nonnegative(), duplicate: z.boolean() });
const EnvelopePush = z.object({ id: z.number().int().positive(), from: z.string(), body: bytes, sentAt: z.number().int().nonnegative() });

export type ResolvedHandle = z.infer<typeof ResolveResult>;
export type Envelope = z.infer<typeof EnvelopePush>;
export type EnvelopeHandler = (envelope: Envelope) => void | Promise<void>;

/** Envelope ids already handled, kept so a re-push (after reconnect or rotation) is only re-acked. */
const SEEN_LIMIT = 20_000;
const ACK_BATCH = 128;
const ACK_DELAY_MS = 10;

export function newIdempotencyKey(): string {
  return randomBytes(16).toString('hex');
}

export class RelayMailbox {
  private handler: EnvelopeHandler | undefined;
  private readonly seen = new Set<number>();
  private queue: Promise<void> = Promise.resolve();
  private acks: number[] = [];
  private ackTimer: NodeJS.Timeout | undefined;

  constructor(private readonly client: RelayClient) {
    client.on('push', (topic, data) => {
      if (topic === 'envelope') this.onEnvelopePush(data);
    });
  }

  async register(handle: string): Promise<void> {
    await this.client.call('register', { handle });
  }

  async resolve(handle: string): Promise<ResolvedHandle> {
    return ResolveResult.parse(await this.client.call('resolve', { handle }));
  }

  /** Stored in the outbox until the relay accepted it; a re-send with the same key is stored once. */
  async send(to: string, body: Uint8Array, idempotencyKey: string = newIdempotencyKey()): Promise<{ id: number; duplicate: boolean }> {
    return SendResult.parse(await this.client.callDurable('send', { to, body }, idempotencyKey));
  }

  /** Envelopes are handed over one at a time in queue order; each is acknowledged after the handler returns. */
  onEnvelope(handler: EnvelopeHandler): void {
    this.handler = handler;
  }

  private onEnvelopePush(data: Value): void {
    const parsed = EnvelopePush.safeParse(data);
    if (!parsed.success) {
      this.client.emit('warning', new Error('relay pushed a malformed envelope'));
      return;
    }
    const env = parsed.data;
    this.queue = this.queue.then(async () => {
      if (!this.seen.has(env.id)) {
        if (!this.handler) return; // not acknowledged: the relay keeps it for later
        await this.handler(env);
        this.seen.add(env.id);
        if (this.seen.size > SEEN_LIMIT) {
          const oldest = this.seen.values().next().value;
          if (oldest !== undefined) this.seen.delete(oldest);
        }
      }
      this.ack(env.id);
    }).catch((e: unknown) => {
      this.client.emit('warning', e instanceof Error ? e : new Error(String(e)));
    });
  }

  private ack(id: number): void {
    this.acks.push(id);
    if (this.acks.length >= ACK_BATCH) this.flushAcks();
    else this.ackTimer ??= setTimeout(() => this.flushAcks(), ACK_DELAY_MS);
  }

  private flushAcks(): void {
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    const ids = this.acks;
    this.acks = [];
    if (ids.length === 0) return;
    // Lost acks are harmless: the relay pushes again and `seen` turns it into a re-ack.
    this.client.call('ack', { ids }).catch(() => undefined);
  }
}
