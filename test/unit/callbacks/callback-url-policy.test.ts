import type { LookupAddress } from 'node:dns';
import { describe, expect, it } from 'vitest';
import {
  callbackDestination,
  callbackLookup,
  checkCallbackUrl,
  isCallbackRefusal,
  normalizeCallbackHost,
  type HostResolver,
} from '../../../src/callbacks/callback-url-policy.ts';
import { callbackUrlSchema } from '../../../src/contract/callback-url-schema.ts';
import { CountersignError } from '../../../src/primitives/errors.ts';
import { fakeDns } from '../../helpers/fake-dns.ts';

const refusal = async (promise: Promise<unknown>) => {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CountersignError);
  return error as CountersignError;
};

describe('checkCallbackUrl (intake)', () => {
  // Each spelling as an agent might send it, through the intake schema's normalisation first.
  it.each([
    'http://127.0.0.1:9000/hook',
    'http://127.1/',
    'http://0x7f.1/',
    'http://2130706433/',
    'http://0177.0.0.1/',
    'http://0/',
    'http://10.0.0.5/',
    'http://169.254.169.254/latest/meta-data',
    'http://100.64.0.1/',
    'http://[::1]/',
    'http://[::]/',
    'http://[::ffff:7f00:1]/',
    'http://[::ffff:127.0.0.1]/',
    'http://[0:0:0:0:0:ffff:127.0.0.1]/',
    'http://[::127.0.0.1]/',
    'http://[64:ff9b::7f00:1]/',
    'http://[64:ff9b:1::1]/',
    'http://[2002:7f00:1::1]/',
    'http://[2001::1]/',
    'http://[2001:db8::1]/',
    'http://[fec0::1]/',
    'http://[fe80::1]/',
    'http://[fd00::1]/',
    'http://[100::1]/',
    'http://localhost:9000/',
    'http://api.localhost/',
  ])('refuses %s for a key without an allow-list, asking no DNS', async (raw) => {
    const dns = fakeDns({});
    const error = await refusal(checkCallbackUrl(callbackUrlSchema.parse(raw), [], dns));
    expect(error).toMatchObject({ status: 422, code: 'callback_not_allowed' });
    expect(error.message).toMatch(/^callbackUrl: /);
    expect(dns.asked).toEqual([]);
  });

  it('refuses a name when any of its addresses is not public, without saying which address', async () => {
    const dns = fakeDns({ 'mixed.example': ['93.184.216.34', '10.20.30.40'], 'mapped.example': ['::ffff:10.20.30.40'] });
    for (const host of ['mixed.example', 'mapped.example']) {
      const error = await refusal(checkCallbackUrl(`https://${host}/hook`, [], dns));
      expect(error.code).toBe('callback_not_allowed');
      expect(error.message).toContain(host);
      expect(error.message).not.toContain('10.20.30.40');
    }
  });

  it('accepts a name whose addresses are all public (and connects to nothing)', async () => {
    const dns = fakeDns({ 'hooks.example.com': ['93.184.216.34', '2606:4700:4700::1111'] });
    await expect(checkCallbackUrl('https://hooks.example.com/hook', [], dns)).resolves.toBeUndefined();
    expect(dns.asked).toEqual(['hooks.example.com']);
  });

  it('answers 422 callback_unresolvable for a name that does not resolve', async () => {
    const error = await refusal(checkCallbackUrl('https://nowhere.example/hook', [], fakeDns({})));
    expect(error).toMatchObject({ status: 422, code: 'callback_unresolvable' });
    expect(isCallbackRefusal(error)).toBe(false);
  });

  it('holds a key with an allow-list to its list, private hosts included, ports as listed', async () => {
    const dns = fakeDns({ 'hooks.internal': ['10.0.0.7'] });
    const hosts = ['127.0.0.1:9000', 'hooks.internal', '::1'];
    await expect(checkCallbackUrl('http://127.0.0.1:9000/hook', hosts, dns)).resolves.toBeUndefined();
    await expect(checkCallbackUrl('http://hooks.internal:1234/hook', hosts, dns)).resolves.toBeUndefined();
    await expect(checkCallbackUrl('http://[::1]:8080/hook', hosts, dns)).resolves.toBeUndefined();
    // Listed hosts are not resolved at intake: nothing about their addresses is refused.
    expect(dns.asked).toEqual([]);
    for (const url of ['http://127.0.0.1:9001/hook', 'http://127.0.0.2:9000/hook', 'https://hooks.example.com/']) {
      expect(await refusal(checkCallbackUrl(url, hosts, dns))).toMatchObject({ code: 'callback_not_allowed', message: expect.stringContaining('not in this key') });
    }
  });

  it('reads a listed host:port with the default port as that port only', async () => {
    await expect(checkCallbackUrl('http://127.0.0.1/hook', ['127.0.0.1:80'], fakeDns({}))).resolves.toBeUndefined();
    await expect(checkCallbackUrl('http://127.0.0.1:80/hook', ['127.0.0.1:80'], fakeDns({}))).resolves.toBeUndefined();
    expect((await refusal(checkCallbackUrl('http://127.0.0.1:8080/hook', ['127.0.0.1:80'], fakeDns({})))).code).toBe('callback_not_allowed');
  });
});

describe('normalizeCallbackHost (keys create --callback-hosts)', () => {
  it.each([
    ['127.0.0.1', '127.0.0.1'],
    ['127.0.0.1:9000', '127.0.0.1:9000'],
    ['0x7f.1', '127.0.0.1'],
    ['Hooks.Example.COM', 'hooks.example.com'],
    ['hooks.example.com:443', 'hooks.example.com:443'],
    ['localhost:80', 'localhost:80'],
    ['::1', '[::1]'],
    ['[::1]', '[::1]'],
    ['[::1]:8080', '[::1]:8080'],
    [' 127.0.0.1 ', '127.0.0.1'],
  ])('stores %s as %s', (entry, stored) => {
    expect(normalizeCallbackHost(entry)).toBe(stored);
  });

  it.each(['', 'http://127.0.0.1', 'hooks.example.com/path', 'user@hooks.example.com', 'hooks.example.com:99999', 'hooks.example.com?x', 'a b'])('refuses %j with a 422 naming callbackHosts', (entry) => {
    expect(() => normalizeCallbackHost(entry)).toThrow(expect.objectContaining({ status: 422, code: 'invalid_callback_hosts', message: expect.stringMatching(/^callbackHosts: /) }));
  });
});

describe('callbackLookup (connect time)', () => {
  const lookupWith = (url: string, allowHosts: string[], dns: HostResolver, options: { all?: boolean; family?: number }) =>
    new Promise<{ error: NodeJS.ErrnoException | null; address: string | LookupAddress[]; family: number | undefined }>((resolve) => {
      const destination = callbackDestination(url, allowHosts);
      callbackLookup(destination, dns)(destination.hostname, options, (error, address, family) => resolve({ error, address, family }));
    });

  it('hands the socket exactly the addresses it checked', async () => {
    const dns = fakeDns({ 'hooks.example.com': ['93.184.216.34', '2606:4700:4700::1111'] });
    expect(await lookupWith('https://hooks.example.com/', [], dns, { all: true })).toMatchObject({
      error: null,
      address: [
        { address: '93.184.216.34', family: 4 },
        { address: '2606:4700:4700::1111', family: 6 },
      ],
    });
    expect(await lookupWith('https://hooks.example.com/', [], dns, { family: 6 })).toMatchObject({ error: null, address: '2606:4700:4700::1111', family: 6 });
    expect(await lookupWith('https://hooks.example.com/', [], dns, {})).toMatchObject({ error: null, address: '93.184.216.34', family: 4 });
  });

  it('refuses the connection when the answer holds a non-public address', async () => {
    const dns = fakeDns({ 'rebind.example': ['93.184.216.34', '127.0.0.1'] });
    const { error } = await lookupWith('https://rebind.example/', [], dns, { all: true });
    expect(isCallbackRefusal(error)).toBe(true);
  });

  it('lets an allow-listed name resolve to a private address', async () => {
    const dns = fakeDns({ 'hooks.internal': ['10.0.0.7'] });
    expect(await lookupWith('http://hooks.internal/', ['hooks.internal'], dns, { all: true })).toMatchObject({ error: null, address: [{ address: '10.0.0.7', family: 4 }] });
  });
});
