import { toStorableText } from '../primitives/safe-text.ts';

/**
 * A verified webhook body as JSON, with every string made storable (`toStorableText`).
 * Its sender is GitHub or Jira repeating what a person typed: it cannot be refused like an
 * agent's request, and a NUL or lone surrogate in a comment must neither fail the delivery
 * nor leave a job that fails on every retry. Throws on text that is not JSON.
 */
export function parseWebhookJson(rawBody: string): unknown {
  return JSON.parse(rawBody, (_key, value: unknown) => (typeof value === 'string' ? toStorableText(value) : value)) as unknown;
}
