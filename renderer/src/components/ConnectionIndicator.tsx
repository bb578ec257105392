import { useEffect, useState } from 'react';
import type { ConnectionState } from '../../../shared/api.ts';
import { useApi } from '../api.ts';
import { describeConnection, formatRemaining } from '../logic.ts';

/**
 * Names the temp-key state (offline, connecting, handshaking, binding, ready, re-binding) and its
 * expiry, a relay that failed the certificate pin / identity key check, and a vault write that
 * failed (with what to do, in a disclosure reachable by keyboard).
 */
export function ConnectionIndicator() {
  const api = useApi();
  const [state, setState] = useState<ConnectionState | null>(null);
  const [, setTick] = useState(0);
  useEffect(() => {
    let alive = true;
    api.connectionState().then((s) => alive && setState(s), () => undefined);
    const off = api.on('connection', setState);
    // Re-render once a minute so "expires in" stays true.
    const timer = setInterval(() => setTick((t) => t + 1), 30_000);
    return () => {
      alive = false;
      off();
      clearInterval(timer);
    };
  }, [api]);
  if (!state) return null;
  const d = describeConnection(state);
  return (
    <div className={`connection tone-${d.tone}`} role="status" aria-live="polite" aria-label={`Connection: ${d.label}. ${d.detail}`} title={d.detail}>
      <span className="dot" aria-hidden="true" />
      <span className="connection-label" role={state.cause === 'disk_write_failed' ? 'alert' : undefined}>
        {d.label}
      </span>
      {state.phase !== 'ready' && state.cause === 'relay_identity_mismatch' ? (
        // Spelled out, not only in the tooltip: this may be an interception attempt.
        <span className="connection-expiry" role="alert">
          certificate or identity key mismatch
        </span>
      ) : null}
      {state.cause === 'disk_write_failed' ? (
        // The tooltip alone is out of reach by keyboard: what to do is one Tab and Enter away.
        <details className="connection-details">
          <summary>What to do</summary>
          <p role="note">{d.detail}</p>
        </details>
      ) : null}
      {state.phase === 'ready' && state.tempKeyExpiresAt !== null ? (
        <span className="connection-expiry">key expires {formatRemaining(state.tempKeyExpiresAt)}</span>
      ) : null}
    </div>
  );
}
