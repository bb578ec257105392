import { useEffect, useState } from 'react';
import type { SafetyNumber } from '../../../shared/api.ts';
import { useApi, errorText } from '../api.ts';
import { Dialog } from '../components/Dialog.tsx';
import { groupSafetyNumber } from '../logic.ts';

/**
 * The safety number in 12 groups of 5; mark verified; accept a changed identity. Accepting sends
 * the digits displayed, so a key that changed after they were shown is refused, not trusted.
 */
export function SafetyNumberDialog({ contactId, onClose }: { contactId: string; onClose: () => void }) {
  const api = useApi();
  const [sn, setSn] = useState<SafetyNumber | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    api.safetyNumber({ contactId }).then(setSn, (err: unknown) => setError(errorText(err)));
  }, [api, contactId]);

  async function act(action: () => Promise<unknown>) {
    setError('');
    try {
      await action();
      setSn(await api.safetyNumber({ contactId }));
    } catch (err) {
      setError(errorText(err));
      // Refused because the key changed again: show the number that is pending now, so the user
      // compares that one (accepting sends exactly the digits on screen).
      api.safetyNumber({ contactId }).then(setSn, () => undefined);
    }
  }

  return (
    <Dialog title={sn ? `Safety number with ${sn.handle}` : 'Safety number'} onClose={onClose}>
      {sn ? (
        <>
          <p>Compare these numbers with {sn.handle}, in person or on a call. If they match on both devices, nobody is in the middle.</p>
          <p className="safety-number" aria-label={`Safety number: ${groupSafetyNumber(sn.digits).join(' ')}`}>
            {groupSafetyNumber(sn.digits).map((g, i) => (
              <code key={i}>{g}</code>
            ))}
          </p>
          {sn.identityChanged ? (
            <div className="banner warn" role="alert">
              <span>{sn.handle}&apos;s identity key changed. This is the new safety number. Accept it only after comparing.</span>
              <button type="button" className="primary" onClick={() => void act(() => api.acceptIdentity({ contactId, safetyNumber: sn.digits }))}>
                Accept new safety number
              </button>
            </div>
          ) : null}
          <p>Status: {sn.verified ? 'verified' : 'not verified'}</p>
          <button type="button" aria-pressed={sn.verified} onClick={() => void act(() => api.markVerified({ contactId, verified: !sn.verified }))} disabled={sn.identityChanged}>
            {sn.verified ? 'Clear verified' : 'Mark as verified'}
          </button>
        </>
      ) : error ? null : (
        <p>Loading…</p>
      )}
      {error ? <p role="alert" className="error">{error}</p> : null}
    </Dialog>
  );
}
