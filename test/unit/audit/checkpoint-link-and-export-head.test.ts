import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { openCheckpointLink, signCheckpointLink, type CheckpointLink } from '../../../src/audit/checkpoint-link.ts';
import { openCheckpoint, signCheckpoint } from '../../../src/audit/checkpoint-note.ts';
import { openExportHead, signExportHead, type ExportHead } from '../../../src/audit/export-head.ts';
import { emptyRoot, leafHash } from '../../../src/audit/merkle-tree.ts';
import { signerFromPem } from '../../../src/primitives/signing-key.ts';

const signer = signerFromPem(generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString());
const keys = new Map([[signer.keyId, signer.publicKey]]);
const origin = 'countersign/abc';
const root = leafHash(Buffer.from('root'));

/** Every single-character change of the signed body (digits, letters, base64) must fail to open. */
function bodyVariants(note: string): string[] {
  const end = note.indexOf('\n\n');
  const variants: string[] = [];
  for (let i = 0; i < end; i += 1) {
    const c = note[i]!;
    if (c === '\n') continue;
    const other = c === '1' ? '2' : c === 'a' ? 'b' : '1';
    variants.push(note.slice(0, i) + other + note.slice(i + 1));
  }
  return variants;
}

describe('checkpoint links', () => {
  const link: CheckpointLink = { number: 3, treeSize: 42, root, previous: { treeSize: 30, root: emptyRoot() } };
  const note = signCheckpointLink(origin, link, signer);

  it('round-trips and refuses every changed character, another origin and another key', () => {
    expect(openCheckpointLink(note, origin, keys)).toEqual({ ok: true, link, keyId: signer.keyId });
    for (const variant of bodyVariants(note)) expect(openCheckpointLink(variant, origin, keys).ok).toBe(false);
    expect(openCheckpointLink(note, 'countersign/other', keys).ok).toBe(false);
    const stranger = signerFromPem(generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString());
    expect(openCheckpointLink(note, origin, new Map([[stranger.keyId, stranger.publicKey]]))).toMatchObject({ ok: false, reason: /no valid signature/ });
  });

  it('cannot pass for a checkpoint, nor a checkpoint for a link or an export head (same key, same name)', () => {
    expect(openCheckpoint(note, origin, keys).ok).toBe(false);
    const checkpoint = signCheckpoint({ origin, size: 42, root }, signer);
    expect(openCheckpointLink(checkpoint, origin, keys)).toMatchObject({ ok: false, reason: 'not a checkpoint link of this log' });
    expect(openExportHead(checkpoint, origin, keys)).toMatchObject({ ok: false, reason: 'not an export head of this log' });
  });
});

describe('export heads', () => {
  const head: ExportHead = { exportedAt: '2026-12-01T10:00:00.000Z', start: 0, treeSize: 42, root, headHash: 'ab'.repeat(32), checkpoints: 4 };
  const note = signExportHead(origin, head, signer);

  it('round-trips and refuses every changed character', () => {
    expect(openExportHead(note, origin, keys)).toEqual({ ok: true, head, keyId: signer.keyId });
    for (const variant of bodyVariants(note)) expect(openExportHead(variant, origin, keys).ok).toBe(false);
    expect(openCheckpoint(note, origin, keys).ok).toBe(false);
    expect(openCheckpointLink(note, origin, keys).ok).toBe(false);
  });
});
