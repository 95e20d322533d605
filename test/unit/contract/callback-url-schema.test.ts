import { describe, expect, it } from 'vitest';
import { callbackUrlSchema } from '../../../src/contract/callback-url-schema.ts';
import { intakeSchema } from '../../../src/contract/intake-schema.ts';
import { formatIssues } from '../../../src/primitives/validation.ts';

const problem = (value: unknown) => {
  const parsed = intakeSchema.safeParse({ project: 'p', action: 'a', summary: 's', callbackUrl: value });
  if (parsed.success) throw new Error(`accepted ${String(value)}`);
  return formatIssues(parsed.error).join('; ');
};

describe('callbackUrlSchema', () => {
  it.each(['http://agent7:s3cr3t@hooks.example.com/x', 'https://agent7:s3cr3t@hooks.example.com/', 'http://agent7@hooks.example.com/', 'http://:s3cr3t@hooks.example.com/', 'http://agent7:s3cr3t@127.0.0.1:9000/hook'])(
    'refuses credentials in %s, naming the field and never the value',
    (url) => {
      const message = problem(url);
      expect(message).toMatch(/^callbackUrl: must not contain credentials/);
      expect(message).not.toMatch(/s3cr3t|agent7|hooks\.example|127\.0\.0\.1/);
    },
  );

  it.each(['ftp://example.com/x', 'file:///etc/passwd', 'javascript:alert(1)', 'gopher://example.com/', 'ws://example.com/', 'data:text/plain,hi', 'not a url', '/relative/path', 'http://[fe80::1%25eth0]/', 'http://[::ffff:127.0.0.1%25eth0]/', 'http://host:99999/'])(
    'refuses %s as not an http or https URL',
    (url) => {
      expect(problem(url)).toBe('callbackUrl: expected an http or https URL');
    },
  );

  it.each(['http://hooks.example.com/x#frag', 'http://hooks.example.com/#'])('refuses the fragment in %s', (url) => {
    expect(problem(url)).toMatch(/^callbackUrl: must not contain a fragment/);
  });

  it('refuses a URL over 2048 characters and a non-string', () => {
    expect(problem(`https://hooks.example.com/${'a'.repeat(2048)}`)).toMatch(/^callbackUrl: /);
    expect(problem(42)).toMatch(/^callbackUrl: /);
  });

  // What the WHATWG parser (Node's URL) makes of odd spellings: the form stored and judged.
  it.each([
    ['http://127.1/', 'http://127.0.0.1/'],
    ['http://0x7f.1/', 'http://127.0.0.1/'],
    ['http://0x7f000001/', 'http://127.0.0.1/'],
    ['http://2130706433/', 'http://127.0.0.1/'],
    ['http://0177.0.0.1/', 'http://127.0.0.1/'],
    ['http://127.0.0.1./', 'http://127.0.0.1/'],
    ['http://%31%32%37.0.0.1/', 'http://127.0.0.1/'],
    ['http://0/', 'http://0.0.0.0/'],
    ['http://[::ffff:127.0.0.1]/', 'http://[::ffff:7f00:1]/'],
    ['http://[0:0:0:0:0:ffff:127.0.0.1]/', 'http://[::ffff:7f00:1]/'],
    ['http://[::127.0.0.1]/', 'http://[::7f00:1]/'],
    ['HTTPS://Hooks.EXAMPLE.com:443/a b', 'https://hooks.example.com/a%20b'],
    ['http://@hooks.example.com/', 'http://hooks.example.com/'],
  ])('stores %s as %s', (raw, stored) => {
    expect(callbackUrlSchema.parse(raw)).toBe(stored);
  });
});
