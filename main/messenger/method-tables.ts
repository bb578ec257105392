// Contract methods served from tables: each job's module builds the methods of its part of the
// contract (e.g. SessionLifecycle.methods), and the facade (main/messenger.ts) takes them on
// whole, so it need not repeat each method as a one-line pass-through. dispatchCall
// (shared/api/rpc.ts) and direct callers reach them as the facade's own methods.

/**
 * A base class whose instances carry the methods `T`. The subclass's constructor assigns them
 * (Object.assign(this, ...tables)) before anyone can call them.
 */
export function servedFromTables<T extends object>(): new () => T {
  return class {} as new () => T;
}
