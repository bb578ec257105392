// The E2E envelope the relay carries: one type byte, then libsignal's serialized message.
// The relay only sees this opaque blob and its size.
import { BadMessage } from '../../shared/protocol/e2e-errors.ts';
import { MAX_ENVELOPE_BYTES } from '../../shared/protocol/methods.ts';

export type EnvelopeType = 'prekey' | 'message';
export interface Envelope {
  /** 'prekey': first messages of a session (PreKeySignalMessage); 'message': a SignalMessage. */
  type: EnvelopeType;
  body: Uint8Array;
}

// Same numbers as libsignal's CiphertextMessageType, so logs and specs agree.
const TYPE_BYTE: Record<EnvelopeType, number> = { prekey: 3, message: 2 };
/** The relay's limit on a `send` body (shared/protocol/methods.ts). */
export { MAX_ENVELOPE_BYTES };

export function encodeEnvelope(envelope: Envelope): Uint8Array {
  const out = new Uint8Array(1 + envelope.body.length);
  out[0] = TYPE_BYTE[envelope.type];
  out.set(envelope.body, 1);
  return out;
}

export function decodeEnvelope(bytes: Uint8Array): Envelope {
  if (bytes.length < 2) throw new BadMessage('envelope too short');
  if (bytes.length > MAX_ENVELOPE_BYTES) throw new BadMessage('envelope too large');
  const type = bytes[0] === TYPE_BYTE.prekey ? 'prekey' : bytes[0] === TYPE_BYTE.message ? 'message' : undefined;
  if (!type) throw new BadMessage(`unknown envelope type ${bytes[0]}`);
  return { type, body: bytes.slice(1) };
}
