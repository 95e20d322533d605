import { describe, expect, it } from 'vitest';
import { requesterLabels } from '../../../src/providers/requester-labels.ts';

describe('requesterLabels', () => {
  it('leaves off labels that impersonate Countersign labels, whatever their case or spacing', () => {
    const rules = { reserved: ['approved', 'rejected'], reservedPrefixes: ['risk:', 'countersign'], maxLength: 10 };
    expect(requesterLabels(['Approved', ' rejected ', 'RISK:low', 'countersign-apr_x', 'ok', 'OK', 'abcdefghijklmno', 'a\u200Bb'], rules)).toEqual(['ok', 'abcdefghi…', 'a[U+200B]b']);
    // Look-alikes: Cyrillic а and е, full-width letters, a zero for an o.
    expect(requesterLabels(['\u0430pprov\u0435d', 'ＲＥＪＥＣＴＥＤ', 'c0untersign-apr_1', 'r\u0456sk:low', 'bug'], rules)).toEqual(['bug']);
  });
});
