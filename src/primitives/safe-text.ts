import { z } from 'zod';
import { unprocessable } from './errors.ts';

/**
 * What text the service will store. PostgreSQL refuses U+0000 in `text` ("invalid byte
 * sequence") and in `jsonb` ("unsupported Unicode escape sequence"), and a lone UTF-16
 * surrogate is not Unicode at all: `pg` silently turns it into U+FFFD (so the stored text
 * differs from what was hashed) and jsonb refuses its `\ud800` escape. Both are refused
 * everywhere, before anything reaches the database.
 *
 * Names, titles and ids (`singleLine`) also refuse every other C0 control character and
 * DEL: a newline in a summary forges a second line in a ticket title or a log line, and an
 * ESC reaches the terminal of whoever reads the audit export. Multi-line text (Markdown
 * details, reasons) keeps tab, line feed and carriage return.
 */
export interface TextRules {
  singleLine: boolean;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
// Control characters are what these patterns are for.
/* eslint-disable no-control-regex */
const SINGLE_LINE_CONTROL = /[\u0001-\u001F\u007F]/;
const MULTI_LINE_CONTROL = /[\u0001-\u0008\u000B\u000C\u000E-\u001F\u007F]/;
const NUL = /\u0000/g;
/* eslint-enable no-control-regex */
const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, 'g');

const codePoint = (char: string) => `U+${char.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;

/**
 * Why `text` may not be stored (never quoting it: it may be a secret, or huge), or
 * undefined when it may. `storableText` rules (no `singleLine`) check only what the
 * database cannot hold, for free-form data such as a payload's strings.
 *
 * @example unsafeTextReason('a\u0000b', { singleLine: true }) // 'contains U+0000 (NUL), which cannot be stored'
 */
export function unsafeTextReason(text: string, rules?: TextRules): string | undefined {
  if (text.includes('\u0000')) return 'contains U+0000 (NUL), which cannot be stored';
  const lone = LONE_SURROGATE.exec(text);
  if (lone) return `contains a lone surrogate ${codePoint(lone[0])}, which is not Unicode text`;
  if (rules) {
    const control = (rules.singleLine ? SINGLE_LINE_CONTROL : MULTI_LINE_CONTROL).exec(text);
    if (control) return `contains the control character ${codePoint(control[0])}${rules.singleLine ? ' (this field is a single line)' : ''}`;
  }
  return undefined;
}

/**
 * A zod string that refuses what `unsafeTextReason` refuses; the one text schema of every
 * request field, mapping field and CLI value that is stored.
 *
 * @example safeText({ max: 500 }) // a single-line title of at most 500 characters
 */
export function safeText({ min = 0, max, multiLine = false }: { min?: number; max: number; multiLine?: boolean }) {
  return z
    .string()
    .min(min)
    .max(max)
    .superRefine((text, ctx) => {
      const reason = unsafeTextReason(text, { singleLine: !multiLine });
      if (reason) ctx.addIssue({ code: 'custom', message: reason });
    });
}

/** The same rule for a value that did not come through a schema (a CLI option): 422 naming the field. */
export function requireSafeText(field: string, text: string, rules: TextRules = { singleLine: true }): string {
  const reason = unsafeTextReason(text, rules);
  if (reason) throw unprocessable('invalid_request', `${field}: ${reason}`);
  return text;
}

/**
 * Text from a party that cannot be refused (a verified provider webhook, a provider's API):
 * NUL and lone surrogates become U+FFFD so it can be stored, and a delivery is never
 * poisoned by one character.
 */
export const toStorableText = (text: string): string => text.replace(NUL, '\uFFFD').replace(LONE_SURROGATES, '\uFFFD');
