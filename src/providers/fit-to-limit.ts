import { cutText } from './requester-text.ts';

/** A piece of text as it goes into a ticket: what is shown, and how many characters were cut off its end. */
export interface Fitted {
  text: string;
  cut: number;
}

export interface FitToLimitInput<T> {
  /** The channel's limit, in the unit `size` measures. */
  limit: number;
  size(rendered: T): number;
  /** The payload as shown (JSON); cut only when the requester text alone cannot make room. */
  payload: string;
  /** Every piece of requester text, in any order: trimmed first, longest first. */
  fields: readonly string[];
  /**
   * Renders the ticket. Countersign's own parts (the payload hash above all) are always rendered
   * whole; a fitted piece with `cut > 0` is followed by {@link trimNote} or {@link payloadCutNote}.
   */
  render(payload: Fitted, fields: readonly Fitted[]): T;
}

/** Requester text kept, across all fields, before the payload itself is cut: enough for the action, requester and summary. */
const REQUESTER_FLOOR = 2_000;
/** Fences and notes change length with the text they hold, so a fit is re-measured a few times. */
const ROUNDS = 8;

const whole = (text: string): Fitted => ({ text, cut: 0 });

/**
 * Shares `budget` characters among the fields so that short ones stay whole and only the longest
 * are cut, to the same length ("water-filling"): an action or a label is never cut to make room
 * for a long `details`.
 */
function share(fields: readonly string[], budget: number): Fitted[] {
  const lengths = fields.map((field) => field.length).sort((a, b) => a - b);
  let left = Math.max(0, budget);
  let cap = 0;
  for (let i = 0; i < lengths.length; i++) {
    const even = Math.floor(left / (lengths.length - i));
    if (lengths[i]! > even) {
      cap = even;
      break;
    }
    left -= lengths[i]!;
    cap = Infinity;
  }
  return fields.map((field) => cutText(field, cap));
}

const total = (fields: readonly string[]) => fields.reduce((sum, field) => sum + field.length, 0);

/**
 * The rendering for the largest `n` in `[min, max]` that fits, or `undefined` when not even `min`
 * does. The next `n` is estimated from the size each character added (a JSON channel writes a
 * quote as two characters, a fence grows with the text), then lowered until it fits.
 */
function largestFitting<T>(min: number, max: number, renderAt: (n: number) => T, size: (rendered: T) => number, limit: number): T | undefined {
  const low = renderAt(min);
  const lowSize = size(low);
  if (lowSize > limit) return undefined;
  let n = max;
  for (let round = 0; round < ROUNDS && n > min; round++) {
    const rendered = renderAt(n);
    const over = size(rendered) - limit;
    if (over <= 0) return rendered;
    const perChar = (size(rendered) - lowSize) / (n - min);
    n = Math.max(min, Math.min(n - 1, min + Math.floor((limit - lowSize) / perChar)));
  }
  return low;
}

/**
 * Renders a ticket within a channel's size limit, for every channel (GitHub issue bodies and
 * comments, Jira descriptions and comments; Slack, email and web pages later). Requester text is
 * trimmed first, longest field first; only when the payload alone is too long is it cut too,
 * leaving a little requester text. Countersign's own parts, the payload hash among them, are
 * never cut: the hash covers the whole payload, and the ticket says what was cut and where the
 * full request is.
 *
 * @example
 * fitToLimit({ limit: 65_536, size: (body) => body.length, payload, fields: [details], render: (p, [d]) => body(p, d) });
 */
export function fitToLimit<T>(input: FitToLimitInput<T>): T {
  const { limit, size, payload, fields, render } = input;
  const rendered = render(whole(payload), fields.map(whole));
  if (size(rendered) <= limit) return rendered;

  const all = total(fields);
  const floor = Math.min(all, REQUESTER_FLOOR);
  const trimmed = largestFitting(floor, all, (n) => render(whole(payload), share(fields, n)), size, limit);
  if (trimmed !== undefined) return trimmed;

  const kept = share(fields, floor);
  const cut = largestFitting(0, payload.length, (n) => render(cutText(payload, n), kept), size, limit);
  // Countersign's own parts are a few thousand characters at most: with nothing else they fit.
  return cut ?? render(cutText(payload, 0), fields.map((field) => cutText(field, 0)));
}

const count = (n: number) => n.toLocaleString('en-US');

/** What a channel writes after trimmed requester text, followed by a link to the approval. */
export const trimNote = (cut: number) => `trimmed: ${count(cut)} characters; full request at`;

/** What a channel writes after a cut payload, followed by a link to the approval. */
export const payloadCutNote = (cut: number) => `cut: ${count(cut)} more characters of the payload are not shown here; the payload hash covers all of it; full request at`;
