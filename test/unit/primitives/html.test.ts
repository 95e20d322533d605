import { describe, expect, it } from 'vitest';
import { escapeHtml, html } from '../../../src/primitives/html.ts';

describe('html (the pages\' one way to make markup)', () => {
  it('escapes every interpolated text, in content and in quoted attributes', () => {
    const hostile = `"><script>alert('x')</script>\`&`;
    expect(html`<p title="${hostile}">${hostile}</p>`.html).toBe('<p title="&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&#96;&amp;">&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&#96;&amp;</p>');
    expect(escapeHtml('a < b & c')).toBe('a &lt; b &amp; c');
  });

  it('keeps markup made by html itself, joins lists, and shows nothing for null, undefined and false', () => {
    const items = ['<a>', 'b'].map((text) => html`<li>${text}</li>`);
    expect(html`<ul>${items}</ul>${null}${undefined}${false}${0}`.html).toBe('<ul><li>&lt;a&gt;</li><li>b</li></ul>0');
  });

  it('does not take an object that merely looks like its output as markup', () => {
    const forged = { html: '<script>x</script>' } as unknown as string;
    expect(html`${forged}`.html).toBe('[object Object]');
  });
});
