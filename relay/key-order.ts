// The order of one temp key's requests on a cluster node, where the store answers later: sends
// and acks ("pipelined") start at once unless an earlier request of another kind is still
// waiting or running; a request of any other kind starts only when everything before it is
// done, and nothing after it starts before it is done. So a key's window of sends shares one
// group commit (relay/pg-group-commit.ts keeps a sender's sends in order), while e.g. a bind or
// a register is never overtaken. Counters and a queue instead of a promise chain per request:
// this runs for every message.

interface Waiting {
  start: () => Promise<void>;
  pipelined: boolean;
}

export class KeyOrder {
  /** Requests started and not yet done. */
  private running = 0;
  /** A request of another kind is running: nothing starts until it is done. */
  private barrier = false;
  /** Arrived, not started (in arrival order). */
  private readonly waiting: Waiting[] = [];

  constructor(private readonly failed: (e: unknown) => void) {}

  /** `start` runs the request and settles when its answer has been handed on. */
  submit(start: () => Promise<void>, pipelined: boolean): void {
    this.waiting.push({ start, pipelined });
    this.pump();
  }

  private pump(): void {
    while (this.waiting.length > 0 && !this.barrier) {
      const head = this.waiting[0]!;
      if (!head.pipelined && this.running > 0) return;
      this.waiting.shift();
      if (!head.pipelined) this.barrier = true;
      this.running++;
      let p: Promise<void>;
      try {
        p = head.start();
      } catch (e) {
        p = Promise.reject(e);
      }
      const done = (): void => {
        this.running--;
        if (!head.pipelined) this.barrier = false;
        this.pump();
      };
      p.then(done, (e: unknown) => {
        this.failed(e);
        done();
      });
    }
  }
}
