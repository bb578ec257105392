// An attachment's name comes from a contact: decoding its content makes controls, bidi overrides
// and slashes harmless ('_'), so "photo\u202egpj.exe" can neither show as "photoexe.jpg" in the
// UI nor be offered as a download name with a path in it.
import { describe, expect, it } from 'vitest';
import { decodeContent, PAD_BLOCK } from '../../main/e2e/content.ts';

const pad = (json: string): Uint8Array => {
  const raw = new TextEncoder().encode(json);
  const out = new Uint8Array(Math.ceil((raw.length + 1) / PAD_BLOCK) * PAD_BLOCK);
  out.set(raw);
  out[raw.length] = 0x80;
  return out;
};

const b64 = (n: number): string => Buffer.alloc(n, 7).toString('base64url');

function attachmentNamed(name: string): string {
  const c = decodeContent(pad(JSON.stringify({ v: 1, kind: 'attachment', id: 'a1', sentAt: 1, blob: b64(16), key: b64(32), digest: b64(32), size: 10, type: 'image/jpeg', name })));
  if (c.kind !== 'attachment') throw new Error('not an attachment');
  return c.name;
}

describe('received attachment names', () => {
  it('controls, bidi overrides and path separators become _; other names are kept', () => {
    expect(attachmentNamed('photo\u202egpj.exe')).toBe('photo_gpj.exe');
    expect(attachmentNamed('../../.bashrc')).toBe('.._.._.bashrc');
    expect(attachmentNamed('a\\b\u0000c\u001b[2Jd\u0085e\u2066f')).toBe('a_b_c_[2Jd_e_f');
    expect(attachmentNamed('Relatório 2026 (final).pdf')).toBe('Relatório 2026 (final).pdf');
  });
});
