/**
 * The pages' one way to make HTML: a tagged template that escapes every interpolated value
 * unless it is itself `Html` made by this tag. Requester text therefore cannot add markup,
 * attributes or scripts to a page, however it is spelt; there is no "raw" escape hatch.
 *
 * @example html`<p title="${summary}">${summary}</p>` // both places escaped
 */
export interface Html {
  readonly html: string;
}

const HTML_BRAND: unique symbol = Symbol('countersign.html');
type Branded = Html & { readonly [HTML_BRAND]: true };

/** What may be interpolated: text and numbers are escaped, Html is kept, lists are joined, nothing shows nothing. */
export type HtmlValue = Html | string | number | null | undefined | false | readonly HtmlValue[];

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

/** Escapes text for an element's content or a quoted attribute value. */
export const escapeHtml = (text: string) => text.replace(/[&<>"'`]/g, (char) => ESCAPES[char]!);

const isHtml = (value: unknown): value is Branded => typeof value === 'object' && value !== null && (value as Partial<Branded>)[HTML_BRAND] === true;

function render(value: HtmlValue): string {
  if (value === null || value === undefined || value === false) return '';
  if (Array.isArray(value)) return value.map(render).join('');
  if (isHtml(value)) return value.html;
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i += 1) out += render(values[i]!) + strings[i + 1]!;
  return { html: out, [HTML_BRAND]: true } as Branded;
}
