import { createHash, type KeyObject } from 'node:crypto';
import { rawPublicKey, verifySignature, type Signer } from '../primitives/signing-key.ts';

/**
 * Signed tree heads as C2SP checkpoints inside C2SP signed notes, so the text an auditor
 * keeps is the format transparency logs and witnesses already read:
 *
 *     countersign/3f2a…            origin (also the signing key's name)
 *     1024                         tree size
 *     q8Xy…=                       base64 RFC 9162 root hash
 *
 *     — countersign/3f2a… base64(keyID ‖ Ed25519 signature)
 *
 * https://c2sp.org/tlog-checkpoint, https://c2sp.org/signed-note
 */
export interface Checkpoint {
  origin: string;
  size: number;
  root: Buffer;
}

const SIGNATURE_PREFIX = '\u2014 ';
/** Signed-note signature type of Ed25519. */
const ED25519 = 0x01;

/** The 4-byte key ID of a signed note: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]. */
export function noteKeyId(name: string, publicKey: KeyObject): Buffer {
  return createHash('sha256').update(Buffer.concat([Buffer.from(`${name}\n`), Buffer.from([ED25519]), rawPublicKey(publicKey)])).digest().subarray(0, 4);
}

export const checkpointBody = ({ origin, size, root }: Checkpoint): string => `${origin}\n${size}\n${root.toString('base64')}\n`;

/** The signed note text of a checkpoint, signed under the origin as key name. */
export function signCheckpoint(checkpoint: Checkpoint, signer: Signer): string {
  return signNote(checkpointBody(checkpoint), checkpoint.origin, signer);
}

/**
 * A C2SP signed note of `body` (text ending in a newline) under key name `name`. The log's
 * other signed statements (checkpoint links, export heads) are notes too, each with a
 * first line of its own, so none can pass for a checkpoint, whose first line is the origin.
 */
export function signNote(body: string, name: string, signer: Signer): string {
  const signature = Buffer.concat([noteKeyId(name, signer.publicKey), signer.sign(body)]);
  return `${body}\n${SIGNATURE_PREFIX}${name} ${signature.toString('base64')}\n`;
}

export type OpenedNote = { ok: true; body: string; keyId: string } | { ok: false; reason: string };

/** Checks a signed note was signed under `name` by one of `keys` and returns its body (ending in a newline). */
export function openNote(note: string, name: string, keys: ReadonlyMap<string, KeyObject>): OpenedNote {
  const split = note.indexOf('\n\n');
  if (split < 0) return { ok: false, reason: 'not a signed note (no blank line before the signatures)' };
  const body = note.slice(0, split + 1);
  const signatureLines = note.slice(split + 2).split('\n').filter((line) => line !== '');
  for (const line of signatureLines) {
    if (!line.startsWith(SIGNATURE_PREFIX)) return { ok: false, reason: 'malformed signature line' };
    const [lineName, encoded] = line.slice(SIGNATURE_PREFIX.length).split(' ');
    if (lineName !== name || encoded === undefined) continue;
    const raw = Buffer.from(encoded, 'base64');
    if (raw.length !== 4 + 64) continue;
    for (const [keyId, publicKey] of keys) {
      if (noteKeyId(name, publicKey).equals(raw.subarray(0, 4)) && verifySignature(publicKey, Buffer.from(body), raw.subarray(4))) return { ok: true, body, keyId };
    }
  }
  return { ok: false, reason: `no valid signature by a known key of ${name}` };
}

export type OpenedCheckpoint = { ok: true; checkpoint: Checkpoint; keyId: string } | { ok: false; reason: string };

/**
 * Parses a signed checkpoint and checks it was signed, under `origin`, by one of `keys`
 * (service key id → public key). Verify before trusting any of the body.
 */
export function openCheckpoint(note: string, origin: string, keys: ReadonlyMap<string, KeyObject>): OpenedCheckpoint {
  const opened = openNote(note, origin, keys);
  if (!opened.ok) return opened;
  const [lineOrigin, lineSize, lineRoot] = opened.body.split('\n');
  if (lineOrigin !== origin) return { ok: false, reason: `origin is ${JSON.stringify(lineOrigin)}, expected ${origin}` };
  const size = parseSize(lineSize);
  if (size === undefined) return { ok: false, reason: 'malformed tree size' };
  const root = parseRoot(lineRoot);
  if (!root) return { ok: false, reason: 'malformed root hash' };
  return { ok: true, checkpoint: { origin, size, root }, keyId: opened.keyId };
}

/** A decimal tree size as C2SP writes it (no leading zeros), within exact integers. */
export function parseSize(text: string | undefined): number | undefined {
  if (!text || !/^(0|[1-9][0-9]*)$/.test(text) || !Number.isSafeInteger(Number(text))) return undefined;
  return Number(text);
}

/** A base64 32-byte hash, in its one canonical encoding. */
export function parseRoot(text: string | undefined): Buffer | undefined {
  const root = Buffer.from(text ?? '', 'base64');
  return root.length === 32 && root.toString('base64') === text ? root : undefined;
}
