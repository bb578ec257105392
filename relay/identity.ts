// Relay files in the data directory: long-term Ed25519 identity, self-signed TLS certificate
// (made with the openssl CLI on first start) and the descriptor clients pin.
import { execFileSync } from 'node:child_process';
import { createHash, createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../shared/atomic-write.ts';
import { ensurePrivateDir, makePrivate } from '../shared/private-files.ts';
import type { RelayDescriptor } from '../shared/protocol/descriptor.ts';
import type { RelayIdentity } from '../shared/protocol/handshake.ts';
import { rawPublicKey } from '../shared/protocol/keys.ts';

export interface RelayFiles {
  identity: RelayIdentity;
  tlsKey: string;
  tlsCert: string;
  certSha256: string;
}

export function loadOrCreateRelayFiles(dataDir: string, host: string): RelayFiles {
  // Owner-only whatever the umask; data directories made by older versions are tightened too.
  ensurePrivateDir(dataDir);
  const idFile = join(dataDir, 'identity.pem');
  if (!existsSync(idFile)) {
    const { privateKey } = generateKeyPairSync('ed25519');
    writeFileAtomic(idFile, privateKey.export({ format: 'pem', type: 'pkcs8' }).toString());
  }
  const privateKey = createPrivateKey(readFileSync(idFile, 'utf8'));
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`${idFile} is not an Ed25519 key`);

  const keyFile = join(dataDir, 'tls-key.pem');
  const certFile = join(dataDir, 'tls-cert.pem');
  if (!existsSync(keyFile) || !existsSync(certFile)) {
    const san = /^[0-9.]+$/.test(host) || host.includes(':') ? `IP:${host}` : `DNS:${host}`;
    // ECDSA P-256 for TLS (widest support, incl. BoringSSL); the relay's Ed25519 identity is separate.
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', `${keyFile}.tmp`, '-out', `${certFile}.tmp`, '-days', '3650',
      '-subj', '/CN=ephemera-relay', '-addext', `subjectAltName=${san},DNS:localhost`,
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    // openssl writes where it likes; the files are then put in place like every other.
    for (const [tmp, file] of [[`${keyFile}.tmp`, keyFile], [`${certFile}.tmp`, certFile]] as const) {
      makePrivate(tmp);
      writeFileAtomic(file, readFileSync(tmp));
      rmSync(tmp, { force: true });
    }
  }
  const tlsKey = readFileSync(keyFile, 'utf8');
  const tlsCert = readFileSync(certFile, 'utf8');
  const certSha256 = createHash('sha256').update(new X509Certificate(tlsCert).raw).digest('hex');
  return { identity: { privateKey, publicRaw: rawPublicKey(privateKey) }, tlsKey, tlsCert, certSha256 };
}

export function writeDescriptor(dataDir: string, descriptor: RelayDescriptor): string {
  const file = join(dataDir, 'descriptor.json');
  // 0600 like everything in the data directory: whoever hands it to clients copies it.
  writeFileAtomic(file, `${JSON.stringify(descriptor, null, 2)}\n`);
  return file;
}
