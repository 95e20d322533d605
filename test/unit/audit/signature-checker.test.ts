import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createInlineSignatureChecker, createWorkerSignatureChecker, packSignatureItems, signatureLibrary, type SignatureLibrary } from '../../../src/audit/signature-checker.ts';

// libsodium checks the signatures where it loads, node:crypto elsewhere: the two must accept
// exactly the same batches, or a log would verify on one machine and fail on another.

const keyPair = () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, pem: publicKey.export({ format: 'pem', type: 'spki' }).toString() };
};
const alice = keyPair();
const bob = keyPair();
const hashes = Array.from({ length: 12 }, (_, i) => Buffer.alloc(32, i + 1));
interface Item {
  seq: number;
  hash: Buffer;
  signature: Buffer;
  keyIndex: number;
}
const signed = (i: number, by = alice): Item => ({ seq: i + 1, hash: hashes[i]!, signature: sign(null, hashes[i]!, by.privateKey), keyIndex: by === alice ? 0 : 1 });
const L = 2n ** 252n + 27742317777372353535851937790883648493n;

/** The signature with S replaced by S + L: the same point equation, a second encoding, which RFC 8032 rejects. */
function malleated(signature: Buffer): Buffer {
  let s = 0n;
  for (let i = 63; i >= 32; i -= 1) s = (s << 8n) | BigInt(signature[i]!);
  s += L;
  const out = Buffer.from(signature);
  for (let i = 32; i < 64; i += 1, s >>= 8n) out[i] = Number(s & 0xffn);
  return out;
}

const cases: Array<[string, (items: Item[]) => void, number]> = [
  ['every signature good', () => undefined, -1],
  ['a flipped bit in a signature', (items) => (items[5]!.signature[10]! ^= 1), 5],
  ['a changed hash', (items) => (items[7]!.hash = Buffer.alloc(32, 99)), 7],
  ['a good signature under another key', (items) => (items[3]!.keyIndex = 1), 3],
  ['a key index past the keys', (items) => (items[2]!.keyIndex = 7), 2],
  ['S + L (malleated)', (items) => (items[9]!.signature = malleated(items[9]!.signature)), 9],
  ['all zeros', (items) => (items[1]!.signature = Buffer.alloc(64)), 1],
];

describe.each<SignatureLibrary>(['libsodium', 'node:crypto'])('signature checks with %s', (library) => {
  it.each(cases)('%s', async (_, change, firstBad) => {
    const items = hashes.map((_, i) => signed(i, i === 4 ? bob : alice));
    change(items);
    const inline = createInlineSignatureChecker([alice.pem, bob.pem], library);
    const workers = createWorkerSignatureChecker([alice.pem, bob.pem], 2, library);
    try {
      expect(await inline.check(packSignatureItems(items))).toBe(firstBad);
      expect(await workers.check(packSignatureItems(items))).toBe(firstBad);
    } finally {
      await workers.close();
    }
  });
});

describe('the signature library', () => {
  it('is libsodium where sodium-native loads (it is a dependency: on a supported platform it must)', () => {
    expect(signatureLibrary()).toBe('libsodium');
  });
});
