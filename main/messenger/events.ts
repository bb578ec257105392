// The API's events: who listens, and how an event reaches them.
import type { ApiEvent, EphemeraEvents, EventName } from '../../shared/api.ts';

export type Emit = <E extends EventName>(name: E, payload: EphemeraEvents[E]) => void;

export class Listeners {
  private readonly listeners = new Set<(event: ApiEvent) => void>();

  subscribe(listener: (event: ApiEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  readonly emit: Emit = (name, payload) => {
    const event = { name, payload } as ApiEvent;
    for (const l of [...this.listeners]) {
      try {
        l(event);
      } catch {
        // A listener's failure is its own; the others still hear the event.
      }
    }
  };

  clear(): void {
    this.listeners.clear();
  }
}
