import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { consistencyProof, createCompactRange, emptyRoot, inclusionProof, leafHash, rootHash, verifyConsistency, verifyInclusion } from '../../../src/audit/merkle-tree.ts';

const leavesOf = (n: number) => Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`entry ${i}`)));
const flipBit = (hash: Buffer, bit: number) => {
  const copy = Buffer.from(hash);
  copy[bit >> 3]! ^= 1 << (bit & 7);
  return copy;
};

describe('RFC 9162 Merkle tree', () => {
  it('matches the RFC 6962 reference tree (Certificate Transparency test vectors)', () => {
    const entries = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map((h) => leafHash(Buffer.from(h, 'hex')));
    expect(emptyRoot().toString('hex')).toBe(createHash('sha256').digest('hex'));
    expect(rootHash(entries.slice(0, 1)).toString('hex')).toBe('6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d');
    expect(rootHash(entries).toString('hex')).toBe('5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328');
  });

  it('a compact range gives the same root as the full tree at every size, also resumed from its hashes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 300 }), (n, cut) => {
        const leaves = leavesOf(n);
        const range = createCompactRange();
        for (const [i, leaf] of leaves.entries()) {
          if (i === Math.min(cut, n)) {
            // Resuming from the stored hashes is what a pruned log does.
            const resumed = createCompactRange(range.size, range.hashes());
            expect(resumed.root().equals(range.root())).toBe(true);
          }
          range.append(leaf);
        }
        expect(range.size).toBe(n);
        expect(range.root().equals(rootHash(leaves))).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it('refuses a compact range whose hash count does not fit its size', () => {
    expect(() => createCompactRange(3, [leafHash(Buffer.from('x'))])).toThrow(/2 subtree roots/);
  });

  it('inclusion proofs verify, and every corruption of them fails', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 130 }).chain((size) => fc.tuple(fc.constant(size), fc.integer({ min: 0, max: size - 1 }))), ([size, index]) => {
        const leaves = leavesOf(size);
        const root = rootHash(leaves);
        const proof = inclusionProof(leaves, index);
        const leaf = leaves[index]!;
        expect(verifyInclusion(leaf, index, size, proof, root)).toBe(true);

        for (const wrongIndex of [index - 1, index + 1]) if (wrongIndex >= 0 && wrongIndex < size) expect(verifyInclusion(leaf, wrongIndex, size, proof, root)).toBe(false);
        for (const wrongSize of [size * 2, Math.floor(size / 2), size + 1]) {
          if (wrongSize !== size && wrongSize > index && inclusionProof(leavesOf(wrongSize), index).length !== proof.length) expect(verifyInclusion(leaf, index, wrongSize, proof, root)).toBe(false);
        }
        expect(verifyInclusion(leaf, index, size, proof, flipBit(root, 3))).toBe(false);
        expect(verifyInclusion(flipBit(leaf, 0), index, size, proof, root)).toBe(false);
        proof.forEach((_, i) => {
          for (const bit of [0, 100, 255]) expect(verifyInclusion(leaf, index, size, proof.map((p, j) => (j === i ? flipBit(p, bit) : p)), root)).toBe(false);
        });
        expect(verifyInclusion(leaf, index, size, [...proof, leaf], root)).toBe(false);
        if (proof.length > 0) {
          expect(verifyInclusion(leaf, index, size, proof.slice(1), root)).toBe(false);
          expect(verifyInclusion(leaf, index, size, proof.slice(0, -1), root)).toBe(false);
        }
        // A leaf hash is never accepted as an inner node: domain separation.
        if (size > 1) expect(verifyInclusion(root, 0, 1, [], rootHash(leaves.slice(0, 1)))).toBe(root.equals(leaves[0]!));
      }),
      { numRuns: 80 },
    );
  });

  it('consistency proofs verify, and every corruption of them fails', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 130 }).chain((size2) => fc.tuple(fc.integer({ min: 1, max: size2 }), fc.constant(size2))), ([size1, size2]) => {
        const leaves = leavesOf(size2);
        const root1 = rootHash(leaves.slice(0, size1));
        const root2 = rootHash(leaves);
        const proof = consistencyProof(leaves, size1);
        expect(verifyConsistency(size1, size2, root1, root2, proof)).toBe(true);
        if (size1 === size2) {
          expect(verifyConsistency(size1, size2, root1, flipBit(root2, 9), proof)).toBe(false);
          return;
        }
        // Roots swapped, or either one changed.
        expect(verifyConsistency(size1, size2, root2, root1, proof)).toBe(false);
        expect(verifyConsistency(size1, size2, flipBit(root1, 1), root2, proof)).toBe(false);
        expect(verifyConsistency(size1, size2, root1, flipBit(root2, 200), proof)).toBe(false);
        // Sizes off by one, doubled or halved.
        for (const [a, b] of [
          [size1 - 1, size2],
          [size1 + 1, size2],
          [size1, size2 + 1],
          [size1, size2 * 2],
          [Math.floor(size1 / 2), size2],
          [size1 * 2, size2],
        ] as const) {
          // A proof does not commit to sizes whose proofs have the same shape (e.g. 1→3 and 1→4); those are bound by the signed roots.
          if ((a !== size1 || b !== size2) && a >= 1 && a < b && consistencyProof(leavesOf(b), a).length !== proof.length) expect(verifyConsistency(a, b, root1, root2, proof)).toBe(false);
        }
        proof.forEach((_, i) => {
          for (const bit of [0, 77, 255]) expect(verifyConsistency(size1, size2, root1, root2, proof.map((p, j) => (j === i ? flipBit(p, bit) : p)))).toBe(false);
        });
        expect(verifyConsistency(size1, size2, root1, root2, [...proof, root1])).toBe(false);
        expect(verifyConsistency(size1, size2, root1, root2, proof.slice(1))).toBe(false);
        expect(verifyConsistency(size1, size2, root1, root2, proof.slice(0, -1))).toBe(false);
        expect(verifyConsistency(size1, size2, root1, root2, [])).toBe(false);
      }),
      { numRuns: 80 },
    );
  });

  it('handles the trivial sizes as transparency-dev does', () => {
    const leaves = leavesOf(5);
    const root = rootHash(leaves);
    expect(verifyConsistency(0, 5, emptyRoot(), root, [])).toBe(true);
    expect(verifyConsistency(0, 5, emptyRoot(), root, [root])).toBe(false);
    expect(verifyConsistency(5, 5, root, root, [])).toBe(true);
    expect(verifyConsistency(5, 4, root, root, [])).toBe(false);
    expect(verifyInclusion(leaves[0]!, 5, 5, [], root)).toBe(false);
  });
});
