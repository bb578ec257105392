// The client's WebSocket to one relay node: TLS with the relay's certificate pinned by hash (not
// chained to a CA), one shared TLS context, no compression, frames capped at the protocol's size;
// and writing bodies to it in batched records.
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';
import { WebSocket, type ClientOptions } from 'ws';
import { ProtocolError } from '../../shared/protocol/errors.ts';
import { MAX_FRAME_BYTES } from '../../shared/protocol/frames.ts';
import { framePool, type RecordEndpoint } from '../../shared/protocol/record.ts';
import { BATCH_TARGET_BYTES, encodeBatchParts, MAX_BATCH_BODIES, type BodyParts } from '../../shared/protocol/rpc.ts';

// One TLS context for every connection: building one per connect (what tls.connect does when
// given options) loads the CA store each time and cost the client ~1 ms per reconnect, which
// dominated a restart wave. The relay's certificate is pinned by hash, not chained to a CA.
let sharedTlsContext: SecureContext | undefined;
function tlsContext(): SecureContext {
  sharedTlsContext ??= createSecureContext({ minVersion: 'TLSv1.2' });
  return sharedTlsContext;
}

export interface PinnedSocket {
  ws: WebSocket;
  /** True once the upgrade came over a connection whose certificate matched the pin. */
  pinned(): boolean;
}

/**
 * Opens a WebSocket to `url`. At the upgrade the certificate's SHA-256 is compared with
 * `certificateSha256`: a mismatch is reported and the socket terminated; a match hands over the
 * TLS socket (to cork bursts of records).
 */
export function openPinned(url: string, certificateSha256: string, on: {
  mismatch(error: ProtocolError): void;
  tlsSocket(socket: TLSSocket): void;
}): PinnedSocket {
  // ws hands these options to tls.connect, which takes `secureContext` (ws's types omit it).
  const options: ClientOptions & { secureContext: SecureContext } = {
    rejectUnauthorized: false, // the certificate is pinned below instead of chained to a CA
    maxPayload: MAX_FRAME_BYTES,
    perMessageDeflate: false,
    // A zero mask: ws then neither masks nor (at the relay) unmasks each frame, a copy and an XOR
    // pass over every byte sent (~7% of an attachment upload's CPU). Masking guards browsers'
    // WebSockets against cache poisoning of proxies that misread the stream; this client is no
    // browser, speaks only TLS to a relay whose certificate it pins, and every frame is sealed.
    generateMask: (mask: Buffer) => mask.fill(0),
    handshakeTimeout: 10_000,
    minVersion: 'TLSv1.2',
    secureContext: tlsContext(),
  };
  const ws = new WebSocket(url, options);
  let pinned = false;
  ws.on('upgrade', (res: IncomingMessage) => {
    // getPeerX509Certificate parses lazily; getPeerCertificate built a full object (~0.1 ms).
    const cert = (res.socket as TLSSocket).getPeerX509Certificate?.();
    const fp = cert ? createHash('sha256').update(cert.raw).digest('hex') : '';
    if (fp !== certificateSha256) {
      on.mismatch(new ProtocolError('CERT_PIN_MISMATCH', 'relay certificate does not match the descriptor'));
      ws.terminate();
      return;
    }
    pinned = true;
    on.tlsSocket(res.socket as TLSSocket);
  });
  return { ws, pinned: () => pinned };
}

/** Record frames of this process's connections (one thread: one pool serves them all). */
const frames = framePool();

/**
 * Writes the bodies `collect` hands out as records under `endpoint`: bodies released together go
 * in one record (a BATCH body when more than one), a new one begun at the batch limits. Bodies
 * come as parts (rpc.ts BodyParts), sealed without being joined first, large records into frames
 * of a BufferPool. Nothing is written while
 * `socket()` is not open.
 */
export function sendInRecords(socket: () => WebSocket | undefined, endpoint: RecordEndpoint, collect: (out: (body: BodyParts) => void) => void): void {
  let batch: BodyParts[] = [];
  let bytes = 0;
  const send = (): void => {
    const ws = socket();
    if (batch.length === 0 || !ws || ws.readyState !== WebSocket.OPEN) return;
    const frame = endpoint.seal(batch.length === 1 ? (batch[0] as BodyParts) : encodeBatchParts(batch), {}, frames.take);
    // Back to the pool once the socket has written it (or failed to).
    ws.send(frame, () => frames.give(frame));
    batch = [];
    bytes = 0;
  };
  try {
    collect((body) => {
      if (batch.length >= MAX_BATCH_BODIES || (batch.length > 0 && bytes + body.length > BATCH_TARGET_BYTES)) send();
      batch.push(body);
      bytes += 4 + body.length;
    });
  } finally {
    send();
  }
}
