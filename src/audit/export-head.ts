import type { KeyObject } from 'node:crypto';
import { openNote, parseRoot, parseSize, signNote } from './checkpoint-note.ts';
import type { Signer } from '../primitives/signing-key.ts';

/**
 * The signed statement an export starts with: which log, when, which records follow
 * (`start` < seq ≤ `treeSize`), the tree's root and last hash at the end, and how many
 * checkpoints the log had signed. Cutting the file's tail, dropping a checkpoint line or
 * editing the unsigned header then shows without any checkpoint kept elsewhere.
 *
 *     countersign-export-head/1
 *     <origin>
 *     <exported at, ISO 8601>
 *     <start: the anchor's tree size, 0 for a whole log>
 *     <tree size>
 *     <base64 root at tree size>
 *     <hex hash of record tree size (the genesis hash when empty)>
 *     <checkpoints signed>
 */
export interface ExportHead {
  exportedAt: string;
  start: number;
  treeSize: number;
  root: Buffer;
  headHash: string;
  checkpoints: number;
}

const HEAD_HEADER = 'countersign-export-head/1';

export function signExportHead(origin: string, head: ExportHead, signer: Signer): string {
  const body = [HEAD_HEADER, origin, head.exportedAt, head.start, head.treeSize, head.root.toString('base64'), head.headHash, head.checkpoints].join('\n');
  return signNote(`${body}\n`, origin, signer);
}

/** `keyId`: the key whose signature verified (a verifier pinned to trusted keys checks it is one). */
export type OpenedExportHead = { ok: true; head: ExportHead; keyId: string } | { ok: false; reason: string };

export function openExportHead(note: string, origin: string, keys: ReadonlyMap<string, KeyObject>): OpenedExportHead {
  const opened = openNote(note, origin, keys);
  if (!opened.ok) return opened;
  const [header, lineOrigin, exportedAt, start, treeSize, root, headHash, checkpoints] = opened.body.split('\n');
  if (header !== HEAD_HEADER || lineOrigin !== origin) return { ok: false, reason: 'not an export head of this log' };
  const parsed = { start: parseSize(start), treeSize: parseSize(treeSize), root: parseRoot(root), checkpoints: parseSize(checkpoints) };
  if (!exportedAt || parsed.start === undefined || parsed.treeSize === undefined || !parsed.root || !/^[0-9a-f]{64}$/.test(headHash ?? '') || parsed.checkpoints === undefined) return { ok: false, reason: 'malformed export head' };
  return { ok: true, head: { exportedAt, start: parsed.start, treeSize: parsed.treeSize, root: parsed.root, headHash: headHash!, checkpoints: parsed.checkpoints }, keyId: opened.keyId };
}
