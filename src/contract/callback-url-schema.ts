import { z } from 'zod';

/** Longer URLs are refused rather than stored: no receiver needs one, and they bloat every row and log line. */
const MAX_CALLBACK_URL_LENGTH = 2048;

/**
 * The `callbackUrl` of an intake request: an absolute http or https URL without credentials
 * or fragment, stored in the form the WHATWG URL parser gives it (the one the delivery
 * parses again). Normalising at intake means `http://0x7f.1/`, `http://2130706433/` and
 * `http://[::ffff:127.0.0.1]/` are judged, stored and shown as the `127.0.0.1` and
 * `[::ffff:7f00:1]` the sender would actually connect to.
 *
 * Which hosts and addresses may be called depends on the key: that is `checkCallbackUrl`'s job.
 * Messages never repeat the value: a refused URL may carry a password.
 *
 * @example callbackUrlSchema.parse('HTTP://Hooks.Example.com:80/a') // 'http://hooks.example.com/a'
 */
export const callbackUrlSchema = z
  .string()
  .max(MAX_CALLBACK_URL_LENGTH)
  .transform((value, ctx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'expected an http or https URL' });
      return z.NEVER;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      ctx.addIssue({ code: 'custom', message: 'expected an http or https URL' });
      return z.NEVER;
    }
    // Credentials would sit in the database, the approval view and logs; the callback is
    // authenticated by its webhook-signature instead (and Node's fetch refuses them anyway).
    if (url.username !== '' || url.password !== '') {
      ctx.addIssue({ code: 'custom', message: 'must not contain credentials (user:password@); the receiver checks the webhook-signature instead' });
      return z.NEVER;
    }
    // A fragment is never sent over HTTP: refused rather than silently dropped, like unknown fields.
    if (url.href.includes('#')) {
      ctx.addIssue({ code: 'custom', message: 'must not contain a fragment (#…): it is never sent to the receiver' });
      return z.NEVER;
    }
    return url.href;
  });
