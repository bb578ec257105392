// Fixed inputs of the test vectors in docs/protocol.md, and the computation of every output
// with this repository's protocol code (both the client and the relay side).
import { signBind, permKeyIdOf } from '../../shared/protocol/bind.ts';
import { decodeFrame, UNKNOWN_KEY_FRAME, type HelloFrame, type HelloReplyFrame } from '../../shared/protocol/frames.ts';
import { ClientHandshake, relayHandshake, transcriptBytes } from '../../shared/protocol/handshake.ts';
import { ed25519PrivateKey, rawPublicKey } from '../../shared/protocol/keys.ts';
import { MSG_ID_SHIFT, RecordEndpoint } from '../../shared/protocol/record.ts';
import { encodeBatch, encodeBody } from '../../shared/protocol/rpc.ts';

const fill = (byte: number, n: number): Buffer => Buffer.alloc(n, byte);

export const INPUTS = {
  relay_identity_seed: fill(0x11, 32),
  client_eph_private: fill(0x22, 32),
  relay_eph_private: fill(0x33, 32),
  client_nonce: fill(0x44, 32),
  relay_nonce: fill(0x55, 32),
  relay_time: 1_700_000_000_000,
  max_ttl_sec: 90_000,
  perm_seed: fill(0x66, 32),
  session_id: fill(0x77, 8),
  bind_nonce: fill(0x88, 16),
  expires_at: 1_700_086_400_000,
  c2s_record_nonce: fill(0x99, 24),
  s2c_record_nonce: fill(0xaa, 24),
  c2s_msg_id: (1_700_000_000_000n << MSG_ID_SHIFT) | 1n,
  s2c_msg_id: (1_700_000_000_001n << MSG_ID_SHIFT) | 0n,
};

export function computeVectors(): Record<string, string> {
  const I = INPUTS;
  const relayKey = ed25519PrivateKey(Buffer.from(I.relay_identity_seed));
  const relayIdentity = { privateKey: relayKey, publicRaw: rawPublicKey(relayKey) };
  const client = new ClientHandshake({ ephPrivate: I.client_eph_private, nonce: I.client_nonce });
  const hello = decodeFrame(client.helloFrame) as HelloFrame;
  const relaySide = relayHandshake(hello, relayIdentity, I.relay_time, I.max_ttl_sec, { ephPrivate: I.relay_eph_private, nonce: I.relay_nonce });
  const reply = decodeFrame(relaySide.reply) as HelloReplyFrame;
  const clientSide = client.finish(reply, relayIdentity.publicRaw);
  const transcript = transcriptBytes({
    clientEphPub: hello.clientEphPub,
    clientNonce: hello.clientNonce,
    relayIdentityPub: relayIdentity.publicRaw,
    relayEphPub: reply.relayEphPub,
    relayNonce: reply.relayNonce,
    relayTime: reply.relayTime,
    maxTtlSec: reply.maxTtlSec,
  });
  for (const k of ['id', 'c2s', 's2c', 'transcriptHash'] as const) {
    if (!clientSide[k].equals(relaySide.material[k])) throw new Error(`client and relay disagree on ${k}`);
  }
  const permKey = ed25519PrivateKey(Buffer.from(I.perm_seed));
  const permPub = rawPublicKey(permKey);
  const bind = signBind({
    permKeyId: permKeyIdOf(permPub),
    permPub,
    tempKeyId: clientSide.id,
    transcriptHash: clientSide.transcriptHash,
    sessionId: I.session_id,
    nonce: I.bind_nonce,
    expiresAt: I.expires_at,
  }, permKey);
  const clientEp = new RecordEndpoint(clientSide, 'client', () => I.relay_time, I.session_id);
  const relayEp = new RecordEndpoint(relaySide.material, 'relay', () => I.relay_time);
  const bindBody = encodeBody({ kind: 'request', reqId: 1, method: 'bind', params: { message: bind.message, signature: bind.signature } });
  const c2sRecord = clientEp.seal(bindBody, { msgId: I.c2s_msg_id, nonce: I.c2s_record_nonce });
  const resultBody = encodeBody({ kind: 'result', reqId: 1, result: { expiresAt: I.expires_at } });
  const s2cRecord = relayEp.seal(resultBody, { msgId: I.s2c_msg_id, nonce: I.s2c_record_nonce, sessionId: I.session_id });
  const pushBody = encodeBody({ kind: 'push', topic: 'envelope', data: { id: 7, from: 'alice', body: Buffer.of(1, 2, 3), sentAt: I.relay_time } });
  const batchBody = encodeBatch([resultBody, pushBody]);
  const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
  return {
    relay_identity_public: hex(relayIdentity.publicRaw),
    hello_frame: hex(client.helloFrame),
    transcript: hex(transcript),
    hello_reply_frame: hex(relaySide.reply),
    transcript_hash: hex(clientSide.transcriptHash),
    temp_key_id: hex(clientSide.id),
    key_c2s: hex(clientSide.c2s),
    key_s2c: hex(clientSide.s2c),
    perm_public: hex(permPub),
    perm_key_id: hex(permKeyIdOf(permPub)),
    bind_message: hex(bind.message),
    bind_signature: hex(bind.signature),
    bind_request_body: hex(bindBody),
    c2s_record_frame: hex(c2sRecord),
    s2c_result_body: hex(resultBody),
    s2c_record_frame: hex(s2cRecord),
    s2c_batch_body: hex(batchBody),
    unknown_key_frame: hex(UNKNOWN_KEY_FRAME),
  };
}
