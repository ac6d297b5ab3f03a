/**
 * HTML building with escaping by default. Every interpolated value in an {@link html} template is
 * escaped as text unless it is itself the result of `html` (a {@link SafeHtml}); so strings from
 * reports and checks (organization names, reason codes, policy text, host names), which anyone on
 * the internet can choose, always end up as text and never as markup.
 *
 * @example
 * ```ts
 * const org = '<img src=x onerror=alert(1)>';
 * html`<td>${org}</td>`.toString(); // '<td>&lt;img src=x onerror=alert(1)&gt;</td>'
 * ```
 */

export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for use in element content and in quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

type Interpolation = SafeHtml | string | number | boolean | null | undefined | readonly Interpolation[];

function render(value: Interpolation): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map((v: Interpolation) => render(v)).join('');
  return escapeHtml(String(value));
}

/** A template tag: literal parts are markup, interpolations are escaped (arrays are joined). */
export function html(strings: TemplateStringsArray, ...values: Interpolation[]): SafeHtml {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!;
  return new SafeHtml(out);
}

/** Markup known to be safe (constants of this module's callers, never data). */
export function raw(markup: string): SafeHtml {
  return new SafeHtml(markup);
}
