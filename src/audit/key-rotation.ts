import { createPublicKey, type KeyObject } from 'node:crypto';
import { openNote, signNote } from './checkpoint-note.ts';
import { publicKeyId, rawPublicKey, type Signer } from '../primitives/signing-key.ts';

/**
 * The old key's word that a new key signs for the log from now on: a signed note (like the
 * checkpoint links and export heads, with a first line of its own, so it can pass for neither),
 * carried in the `audit.signing_key_rotated` record. A verifier that trusts only the first key
 * follows these notes from key to key (verify-audit-log.ts), so an auditor keeps one public key
 * for the life of the log.
 *
 *     countersign-key-rotation/1
 *     <origin>
 *     <previous key id>
 *     <new key id>
 *     <base64 raw Ed25519 public key of the new key>
 */
export interface KeyRotation {
  previousKeyId: string;
  keyId: string;
  publicKey: KeyObject;
}

const ROTATION_HEADER = 'countersign-key-rotation/1';

/** The endorsement of `next` by `previous` (the signer in use until now). */
export function signKeyRotation(origin: string, previous: Signer, next: KeyObject): string {
  const body = [ROTATION_HEADER, origin, previous.keyId, publicKeyId(next), rawPublicKey(next).toString('base64')].join('\n');
  return signNote(`${body}\n`, origin, previous);
}

export type OpenedKeyRotation = { ok: true; rotation: KeyRotation; signedBy: string } | { ok: false; reason: string };

/** Checks the endorsement was signed under `origin` by one of `keys` (id → public key) and parses it. */
export function openKeyRotation(note: string, origin: string, keys: ReadonlyMap<string, KeyObject>): OpenedKeyRotation {
  const opened = openNote(note, origin, keys);
  if (!opened.ok) return opened;
  const [header, lineOrigin, previousKeyId, keyId, raw] = opened.body.split('\n');
  if (header !== ROTATION_HEADER || lineOrigin !== origin) return { ok: false, reason: 'not a key rotation of this log' };
  if (previousKeyId !== opened.keyId) return { ok: false, reason: `names ${JSON.stringify(previousKeyId)} as the previous key, but is signed by ${opened.keyId}` };
  let publicKey: KeyObject;
  try {
    const bytes = Buffer.from(raw ?? '', 'base64');
    if (bytes.length !== 32) throw new Error('not 32 bytes');
    publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: bytes.toString('base64url') }, format: 'jwk' });
  } catch {
    return { ok: false, reason: 'malformed public key' };
  }
  if (publicKeyId(publicKey) !== keyId) return { ok: false, reason: `key id ${JSON.stringify(keyId)} does not belong to the public key it names` };
  return { ok: true, rotation: { previousKeyId, keyId, publicKey }, signedBy: opened.keyId };
}
