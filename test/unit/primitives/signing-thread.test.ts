import { generateKeyPairSync, randomBytes, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSigningThread } from '../../../src/primitives/signing-thread.ts';

describe('signing thread', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');

  it('signs every item of a batch, in order, on the thread and in place, and starts again after close', async () => {
    const thread = createSigningThread(privateKey);
    try {
      for (const size of [1, 7, 8, 300]) {
        const items = Array.from({ length: size }, (_, i) => randomBytes(i % 3 === 0 ? 32 : 1 + (i % 50)));
        const signatures = await thread.signAll(items);
        expect(signatures).toHaveLength(size);
        expect(signatures.every((signature, i) => signature.length === 64 && verify(null, items[i]!, publicKey, signature))).toBe(true);
        // Swapped items must not verify: the order is the items' order.
        if (size > 1) expect(verify(null, items[1]!, publicKey, signatures[0]!)).toBe(false);
      }
      await thread.close();
      const again = await thread.signAll(Array.from({ length: 20 }, () => randomBytes(32)));
      expect(again).toHaveLength(20);
    } finally {
      await thread.close();
    }
  });
});
