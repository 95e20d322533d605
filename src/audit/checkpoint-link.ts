import type { KeyObject } from 'node:crypto';
import { openNote, parseRoot, parseSize, signNote } from './checkpoint-note.ts';
import type { Signer } from '../primitives/signing-key.ts';

/**
 * What a checkpoint's link says: it is the log's checkpoint number `number`, and the one
 * before it had `previous` (tree size 0 and the empty root for the first). Checkpoints
 * stay plain C2SP notes (extension lines are NOT RECOMMENDED there, and witnesses read
 * them); the link is a second signed note beside each, so a checkpoint deleted from the
 * database or an export is named by its successor's link instead of silently skipped.
 *
 *     countersign-checkpoint-link/1
 *     <origin>
 *     <number>
 *     <tree size>
 *     <base64 root>
 *     <previous tree size>
 *     <previous base64 root>
 */
export interface CheckpointLink {
  number: number;
  treeSize: number;
  root: Buffer;
  previous: { treeSize: number; root: Buffer };
}

const LINK_HEADER = 'countersign-checkpoint-link/1';

export function signCheckpointLink(origin: string, link: CheckpointLink, signer: Signer): string {
  const body = [LINK_HEADER, origin, link.number, link.treeSize, link.root.toString('base64'), link.previous.treeSize, link.previous.root.toString('base64')].join('\n');
  return signNote(`${body}\n`, origin, signer);
}

/** `keyId`: the key whose signature verified. */
export type OpenedLink = { ok: true; link: CheckpointLink; keyId: string } | { ok: false; reason: string };

/** Checks a link's signature (by one of `keys`, under `origin`) and parses it. */
export function openCheckpointLink(note: string, origin: string, keys: ReadonlyMap<string, KeyObject>): OpenedLink {
  const opened = openNote(note, origin, keys);
  if (!opened.ok) return opened;
  const [header, lineOrigin, number, treeSize, root, previousSize, previousRoot] = opened.body.split('\n');
  if (header !== LINK_HEADER || lineOrigin !== origin) return { ok: false, reason: 'not a checkpoint link of this log' };
  const parsed = { number: parseSize(number), treeSize: parseSize(treeSize), root: parseRoot(root), previousSize: parseSize(previousSize), previousRoot: parseRoot(previousRoot) };
  if (parsed.number === undefined || parsed.number < 1 || parsed.treeSize === undefined || !parsed.root || parsed.previousSize === undefined || !parsed.previousRoot) return { ok: false, reason: 'malformed checkpoint link' };
  return { ok: true, link: { number: parsed.number, treeSize: parsed.treeSize, root: parsed.root, previous: { treeSize: parsed.previousSize, root: parsed.previousRoot } }, keyId: opened.keyId };
}
