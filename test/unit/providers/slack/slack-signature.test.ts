import { describe, expect, it } from 'vitest';
import { signSlackRequest, verifySlackSignature } from '../../../../src/providers/slack/slack-signature.ts';

// Slack's documented example (api.slack.com, "Verifying requests from Slack").
const SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const BODY = 'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
const TS = 1531420618;

describe('Slack request signature', () => {
  it('accepts Slack’s documented example and refuses any change to body, timestamp or secret', () => {
    const headers = { 'x-slack-request-timestamp': String(TS), 'x-slack-signature': 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503' };
    expect(verifySlackSignature(BODY, headers, [SECRET], TS)).toBe(true);
    expect(signSlackRequest(BODY, SECRET, TS)).toEqual(headers);
    expect(verifySlackSignature(`${BODY}x`, headers, [SECRET], TS)).toBe(false);
    expect(verifySlackSignature(BODY, { ...headers, 'x-slack-request-timestamp': String(TS + 1) }, [SECRET], TS)).toBe(false);
    expect(verifySlackSignature(BODY, headers, ['other'], TS)).toBe(false);
    expect(verifySlackSignature(BODY, headers, ['other', SECRET], TS)).toBe(true);
  });

  it('refuses a timestamp more than 5 minutes away, and malformed headers', () => {
    const headers = signSlackRequest(BODY, SECRET, TS);
    expect(verifySlackSignature(BODY, headers, [SECRET], TS + 300)).toBe(true);
    expect(verifySlackSignature(BODY, headers, [SECRET], TS + 301)).toBe(false);
    expect(verifySlackSignature(BODY, headers, [SECRET], TS - 301)).toBe(false);
    expect(verifySlackSignature(BODY, {}, [SECRET], TS)).toBe(false);
    expect(verifySlackSignature(BODY, { ...headers, 'x-slack-signature': headers['x-slack-signature']!.toUpperCase() }, [SECRET], TS)).toBe(false);
    expect(verifySlackSignature(BODY, { ...headers, 'x-slack-signature': 'v0=abc' }, [SECRET], TS)).toBe(false);
    expect(verifySlackSignature(BODY, { ...headers, 'x-slack-request-timestamp': '1e9' }, [SECRET], TS)).toBe(false);
  });
});
