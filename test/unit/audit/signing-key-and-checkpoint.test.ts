import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openCheckpoint, signCheckpoint } from '../../../src/audit/checkpoint-note.ts';
import { leafHash } from '../../../src/audit/merkle-tree.ts';
import { loadSigner, signerFromPem, signingKeyPath, verifySignature } from '../../../src/primitives/signing-key.ts';

const pem = () => generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
const dirs: string[] = [];
afterAll(async () => Promise.all(dirs.map((dir) => fs.rm(dir, { recursive: true, force: true }))));

describe('signing key', () => {
  it('is generated into the data dir once (mode 0600) and reused, also by processes racing to create it', async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-key-'));
    dirs.push(dataDir);
    const signers = await Promise.all([1, 2, 3].map(() => loadSigner({ signingKeyPem: undefined, dataDir })));
    expect(new Set(signers.map((s) => s.keyId)).size).toBe(1);
    expect((await fs.stat(signingKeyPath(dataDir))).mode & 0o777).toBe(0o600);
    expect((await fs.readdir(dataDir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const again = await loadSigner({ signingKeyPem: undefined, dataDir });
    expect(again.keyId).toBe(signers[0]!.keyId);
  });

  it('takes COUNTERSIGN_SIGNING_KEY over the data dir, and refuses a key that is not Ed25519', async () => {
    const key = pem();
    const signer = await loadSigner({ signingKeyPem: key, dataDir: '/nonexistent/never-written' });
    expect(signer.keyId).toBe(signerFromPem(key).keyId);
    expect(signer.publicKeyPem).toMatch(/BEGIN PUBLIC KEY/);
    expect(verifySignature(signer.publicKey, Buffer.from('x'), signer.sign('x'))).toBe(true);
    expect(verifySignature(signer.publicKey, Buffer.from('y'), signer.sign('x'))).toBe(false);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    await expect(loadSigner({ signingKeyPem: rsa, dataDir: '/nonexistent' })).rejects.toThrow(/COUNTERSIGN_SIGNING_KEY: signing key is rsa/);
  });
});

describe('C2SP checkpoint notes', () => {
  const signer = signerFromPem(pem());
  const keys = new Map([[signer.keyId, signer.publicKey]]);
  const root = leafHash(Buffer.from('root'));
  const note = signCheckpoint({ origin: 'countersign/abc', size: 42, root }, signer);

  it('has the checkpoint text form and opens with the signing key', () => {
    const lines = note.split('\n');
    expect(lines.slice(0, 4)).toEqual(['countersign/abc', '42', root.toString('base64'), '']);
    expect(lines[4]).toMatch(/^\u2014 countersign\/abc [A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(lines[4]!.split(' ')[2]!, 'base64')).toHaveLength(68);
    const opened = openCheckpoint(note, 'countersign/abc', keys);
    expect(opened).toEqual({ ok: true, keyId: signer.keyId, checkpoint: { origin: 'countersign/abc', size: 42, root } });
  });

  it('refuses a changed size or root, another origin, and an unknown key', () => {
    expect(openCheckpoint(note.replace('\n42\n', '\n43\n'), 'countersign/abc', keys).ok).toBe(false);
    expect(openCheckpoint(note.replace(root.toString('base64'), leafHash(Buffer.from('other')).toString('base64')), 'countersign/abc', keys).ok).toBe(false);
    expect(openCheckpoint(note, 'countersign/other', keys).ok).toBe(false);
    const stranger = signerFromPem(pem());
    expect(openCheckpoint(note, 'countersign/abc', new Map([[stranger.keyId, stranger.publicKey]]))).toMatchObject({ ok: false, reason: /no valid signature/ });
    expect(openCheckpoint('not a note', 'countersign/abc', keys).ok).toBe(false);
  });

  it('opens with a rotated-out key still known', () => {
    const next = signerFromPem(pem());
    const both = new Map([
      [next.keyId, next.publicKey],
      [signer.keyId, signer.publicKey],
    ]);
    expect(openCheckpoint(note, 'countersign/abc', both)).toMatchObject({ ok: true, keyId: signer.keyId });
  });
});
