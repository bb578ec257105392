// A cluster node's ear: LISTEN on the node's channel over a connection of its own, turning
// notifications into cluster events; after the connection is lost, reconnect with backoff and
// report 'resync' (notifications sent meanwhile are gone).
import pg from 'pg';
import type { ClusterEvent } from './store-backend.ts';
import { nodeChannel } from './pg-schema.ts';

export class PgListener {
  private listener: pg.Client | undefined;
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly log: (event: Record<string, unknown>) => void,
  ) {}

  /**
   * LISTENs on the node's channel on a connection of its own. When that connection is lost
   * (PostgreSQL restarted) it reconnects with backoff and reports 'resync': notifications sent
   * meanwhile are gone, so the node must re-read its devices' bindings and queues.
   */
  async listen(node: string, onEvent: (e: ClusterEvent) => void): Promise<void> {
    const channel = nodeChannel(node);
    // One node per store object: its events go to one place.
    if (this.listener) throw new Error('this store already listens');
    let delay = 100;
    const connect = async (): Promise<void> => {
      const c = new pg.Client({ connectionString: this.url });
      c.on('notification', (m) => {
        for (const e of parseEvents(m.payload ?? '')) onEvent(e);
      });
      const lost = (err?: Error): void => {
        if (this.listener !== c) return;
        this.listener = undefined;
        this.log({ event: 'pg-listener-lost', error: err?.message ?? 'ended' });
        c.removeAllListeners('end');
        void c.end().catch(() => undefined);
        if (this.closed) return;
        const retry = (): void => {
          if (this.closed) return;
          connect().then(() => {
            delay = 100;
            onEvent({ kind: 'resync' });
          }, () => {
            delay = Math.min(delay * 2, 5000);
            setTimeout(retry, delay * (0.5 + Math.random() / 2));
          });
        };
        setTimeout(retry, delay);
      };
      c.on('error', lost);
      c.on('end', () => lost());
      this.listener = c;
      try {
        await c.connect();
        await c.query(`LISTEN ${channel}`);
      } catch (e) {
        this.listener = undefined;
        c.removeAllListeners('end');
        c.removeAllListeners('error');
        c.on('error', () => undefined);
        await c.end().catch(() => undefined);
        throw e;
      }
    };
    await connect();
  }

  /** No reconnect from now on. */
  closing(): void {
    this.closed = true;
  }

  /** Ends the listening connection (after closing()). */
  async end(): Promise<void> {
    const l = this.listener;
    this.listener = undefined;
    if (l) await l.end().catch(() => undefined);
  }
}

/** 'q:' and one or more device ids (a group commit names every recipient of this node at once), or 'u:device:binding'. */
function parseEvents(p: string): ClusterEvent[] {
  const m = /^(?:q:([0-9a-f]{2,128}(?:,[0-9a-f]{2,128})*)|u:([0-9a-f]{2,128}):([0-9a-f]{2,128}))$/.exec(p);
  if (!m) return [];
  if (m[1] !== undefined) return m[1].split(',').map((hex): ClusterEvent => ({ kind: 'queued', device: Buffer.from(hex, 'hex') }));
  return [{ kind: 'unbind', device: Buffer.from(m[2]!, 'hex'), bindingId: Buffer.from(m[3]!, 'hex') }];
}
