/** Parsing of URL parameters shared by pages and the API. */
import { domainToASCII } from 'node:url';

/** A domain from a URL path segment, as a lower-case A-label; null when it is not a domain name. */
export function normalizeDomainParam(segment: string): string | null {
  let text: string;
  try {
    text = decodeURIComponent(segment);
  } catch {
    return null;
  }
  text = text.trim().replace(/\.$/, '');
  if (text.length === 0 || text.length > 253) return null;
  const ascii = domainToASCII(text).toLowerCase();
  if (ascii === '' || !/^[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*$/.test(ascii)) return null;
  return ascii;
}
