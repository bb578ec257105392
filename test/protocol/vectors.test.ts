// The test vectors of docs/protocol.md, checked against this repository's code on both sides
// (client and relay) and against an independent implementation (noble).
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { seal, open } from '../../shared/protocol/aead.ts';
import { decodeBindMessage, verifyBind } from '../../shared/protocol/bind.ts';
import { decodeFrame, type RecordFrame } from '../../shared/protocol/frames.ts';
import type { TempKeyMaterial } from '../../shared/protocol/handshake.ts';
import { RecordEndpoint, recordAd, DIRECTION_C2S, DIRECTION_S2C } from '../../shared/protocol/record.ts';
import { decodeBody } from '../../shared/protocol/rpc.ts';
import { computeVectors, INPUTS } from './vector-inputs.ts';

const doc = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'protocol.md'), 'utf8');
const block = /```vectors\n([\s\S]*?)```/.exec(doc)?.[1] ?? '';
const V: Record<string, string> = Object.fromEntries(
  block.trim().split('\n').map((l) => {
    const i = l.indexOf(': ');
    return [l.slice(0, i), l.slice(i + 2)];
  }),
);
const h = (name: string): Buffer => {
  const v = V[name];
  if (v === undefined) throw new Error(`vector ${name} missing from docs/protocol.md`);
  return Buffer.from(v, 'hex');
};

describe('docs/protocol.md test vectors', () => {
  it('lists every input with its value', () => {
    for (const [k, v] of Object.entries(INPUTS)) expect(V[k], k).toBe(Buffer.isBuffer(v) ? v.toString('hex') : String(v));
  });

  it('this code (client and relay side) reproduces every output', () => {
    const computed = computeVectors();
    for (const [k, v] of Object.entries(computed)) expect(V[k], k).toBe(v);
  });

  it('an independent implementation (noble) agrees: X25519, Ed25519, HKDF, XChaCha20-Poly1305', () => {
    const relayPub = ed25519.getPublicKey(INPUTS.relay_identity_seed);
    expect(Buffer.from(relayPub)).toEqual(h('relay_identity_public'));
    const C = x25519.getPublicKey(INPUTS.client_eph_private);
    const S = x25519.getPublicKey(INPUTS.relay_eph_private);
    expect(h('hello_frame').subarray(2, 34)).toEqual(Buffer.from(C));
    const shared = x25519.getSharedSecret(INPUTS.client_eph_private, S);
    expect(Buffer.from(x25519.getSharedSecret(INPUTS.relay_eph_private, C))).toEqual(Buffer.from(shared));
    const transcript = h('transcript');
    expect(Buffer.from(sha256(transcript))).toEqual(h('transcript_hash'));
    expect(ed25519.verify(h('hello_reply_frame').subarray(78), transcript, relayPub)).toBe(true);
    expect(Buffer.from(ed25519.sign(transcript, INPUTS.relay_identity_seed))).toEqual(h('hello_reply_frame').subarray(78));
    const info = Buffer.concat([Buffer.from('ephemera/v1 temp key'), relayPub, C, S]);
    const okm = Buffer.from(hkdf(sha256, shared, h('transcript_hash'), info, 72));
    expect(okm.subarray(0, 32)).toEqual(h('key_c2s'));
    expect(okm.subarray(32, 64)).toEqual(h('key_s2c'));
    expect(okm.subarray(64, 72)).toEqual(h('temp_key_id'));
    expect(Buffer.from(ed25519.sign(h('bind_message'), INPUTS.perm_seed))).toEqual(h('bind_signature'));
    // records, opened by noble
    const c2s = decodeFrame(h('c2s_record_frame')) as RecordFrame;
    const plain = Buffer.from(xchacha20poly1305(h('key_c2s'), c2s.nonce, recordAd(h('temp_key_id'), DIRECTION_C2S)).decrypt(c2s.sealed));
    expect(plain.readBigUInt64BE(0)).toBe(INPUTS.c2s_msg_id);
    expect(plain.subarray(12, 20)).toEqual(INPUTS.session_id);
    expect(plain.subarray(20)).toEqual(h('bind_request_body'));
    const s2c = decodeFrame(h('s2c_record_frame')) as RecordFrame;
    const plain2 = Buffer.from(xchacha20poly1305(h('key_s2c'), s2c.nonce, recordAd(h('temp_key_id'), DIRECTION_S2C)).decrypt(s2c.sealed));
    expect(plain2.subarray(20)).toEqual(h('s2c_result_body'));
  });

  it('the relay side opens the client record and accepts its bind; the client side opens the relay record', () => {
    const material = (): TempKeyMaterial => ({ id: h('temp_key_id'), c2s: h('key_c2s'), s2c: h('key_s2c'), transcriptHash: h('transcript_hash') });
    const relayEp = new RecordEndpoint(material(), 'relay', () => INPUTS.relay_time);
    const p = relayEp.open(decodeFrame(h('c2s_record_frame')) as RecordFrame);
    expect(p).not.toBeNull();
    const body = decodeBody(p?.body ?? Buffer.alloc(0));
    expect(body).toMatchObject({ kind: 'request', reqId: 1, method: 'bind' });
    const params = body.kind === 'request' ? (body.params as { message: Uint8Array; signature: Uint8Array }) : undefined;
    const fields = decodeBindMessage(params?.message ?? new Uint8Array());
    expect(fields?.expiresAt).toBe(INPUTS.expires_at);
    expect(fields?.tempKeyId).toEqual(h('temp_key_id'));
    expect(verifyBind(params?.message ?? new Uint8Array(), params?.signature ?? new Uint8Array(), h('perm_public'))).toBe(true);
    const clientEp = new RecordEndpoint(material(), 'client', () => INPUTS.relay_time, INPUTS.session_id);
    const r = clientEp.open(decodeFrame(h('s2c_record_frame')) as RecordFrame);
    expect(r && decodeBody(r.body)).toMatchObject({ kind: 'result', reqId: 1 });
    // and the 404 frame
    expect(decodeFrame(h('unknown_key_frame'))).toEqual({ type: 'unknownKey' });
  });

  it('XChaCha20-Poly1305 matches draft-irtf-cfrg-xchacha A.3.1, natively and through noble', () => {
    const key = Buffer.from('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f', 'hex');
    const nonce = Buffer.from('404142434445464748494a4b4c4d4e4f5051525354555657', 'hex');
    const ad = Buffer.from('50515253c0c1c2c3c4c5c6c7', 'hex');
    const pt = Buffer.from("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.");
    const expected = 'bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff921f9664c97637da9768812f615c68b13b52e' + 'c0875924c1c7987947deafd8780acf49';
    expect(seal(key, nonce, pt, ad).toString('hex')).toBe(expected);
    expect(Buffer.from(xchacha20poly1305(key, nonce, ad).encrypt(pt)).toString('hex')).toBe(expected);
    expect(open(key, nonce, Buffer.from(expected, 'hex'), ad)).toEqual(pt);
    const bad = Buffer.from(expected, 'hex');
    bad[0] = (bad[0] as number) ^ 1;
    expect(open(key, nonce, bad, ad)).toBeNull();
  });
});
