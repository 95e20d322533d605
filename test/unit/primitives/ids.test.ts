import { describe, expect, it } from 'vitest';
import { newApiKeySecret, newApprovalId, newKeyId, newWebhookSecret } from '../../../src/primitives/ids.ts';

describe('ids', () => {
  it('sorts approval ids in the order they were made, even within one millisecond', () => {
    const ids = Array.from({ length: 2000 }, newApprovalId);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    expect(ids.every((id) => /^apr_[0-9a-z]{26}$/.test(id))).toBe(true);
    const keys = Array.from({ length: 200 }, newKeyId);
    expect([...keys].sort()).toEqual(keys);
  });

  it('draws fresh randomness for ids of different milliseconds', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 20; i += 1) {
      ids.push(newApprovalId());
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    // The 16 random symbols after the 10 time symbols: a stuck generator would repeat them.
    const randomParts = new Set(ids.map((id) => id.slice(4 + 10)));
    expect(randomParts.size).toBe(ids.length);
    expect(new Set([...randomParts].join('')).size).toBeGreaterThan(20);
  });

  it('makes secrets in the documented shapes, never twice the same', () => {
    expect(newApiKeySecret()).toMatch(/^csk_[A-Za-z0-9_-]{43}$/);
    expect(newWebhookSecret()).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(newApiKeySecret()).not.toBe(newApiKeySecret());
  });
});
