/**
 * An app's `html` never reaches a mail as the app wrote it: it is rebuilt from an allow list,
 * so it can neither break out of Custos's template (close its elements, hide its footer and
 * unsubscribe link), nor load anything (images, styles, forms, scripts), nor link anywhere
 * but to https. Kept: paragraphs, line breaks, emphasis, lists, headings h3–h4, code and
 * https links, without any attribute but a link's href. Everything else is dropped, its text
 * kept; the content of script, style and similar elements is dropped with them. Entities
 * pass through; stray `<`, `>` and `&` are escaped. Open elements are closed at the end.
 */
const ALLOWED = new Set([
  'p',
  'br',
  'strong',
  'b',
  'em',
  'i',
  'u',
  'ul',
  'ol',
  'li',
  'h3',
  'h4',
  'code',
  'pre',
  'blockquote',
  'a',
]);
const VOID = new Set(['br']);
/** Elements whose content is not text to show. */
const DROP_WITH_CONTENT = new Set([
  'script',
  'style',
  'head',
  'title',
  'template',
  'iframe',
  'object',
  'embed',
  'noscript',
  'svg',
  'math',
  'select',
  'textarea',
]);

const ENTITY = /^&(?:#\d{1,7}|#x[0-9a-f]{1,6}|[a-z][a-z0-9]{1,31});/i;

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** Text as it stands in HTML: entities kept, every other special character escaped. */
function escapeText(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === '&') {
      const entity = ENTITY.exec(text.slice(i, i + 40));
      if (entity) {
        out += entity[0];
        i += entity[0].length - 1;
      } else out += '&amp;';
    } else if (c === '<') out += '&lt;';
    else if (c === '>') out += '&gt;';
    else if (c === '"') out += '&quot;';
    else out += c;
  }
  return out;
}

function httpsHref(attributes: string): string | undefined {
  const match = /\shref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))/i.exec(` ${attributes}`);
  const raw = match?.[1] ?? match?.[2] ?? match?.[3];
  if (raw === undefined) return undefined;
  const decoded = raw.replace(/&amp;/g, '&').trim();
  try {
    const url = new URL(decoded);
    return url.protocol === 'https:' ? url.href : undefined;
  } catch {
    return undefined;
  }
}

const TAG =
  /<!--[\s\S]*?(?:-->|$)|<(\/?)([a-zA-Z][a-zA-Z0-9]*)((?:[^>"']|"[^"]*"|'[^']*')*)>|<![^>]*>|<\?[^>]*>/g;

export function sanitizeHtml(input: string): string {
  let out = '';
  const open: string[] = [];
  let dropping: string | undefined;
  let last = 0;
  for (const match of input.matchAll(TAG)) {
    const text = input.slice(last, match.index);
    last = match.index + match[0].length;
    if (dropping === undefined) out += escapeText(text);
    const name = match[2]?.toLowerCase();
    if (name === undefined) continue; // a comment, doctype or processing instruction
    const closing = match[1] === '/';
    if (dropping !== undefined) {
      if (closing && name === dropping) dropping = undefined;
      continue;
    }
    if (DROP_WITH_CONTENT.has(name)) {
      if (!closing && !/\/\s*$/.test(match[3] ?? '')) dropping = name;
      continue;
    }
    if (!ALLOWED.has(name)) continue;
    if (closing) {
      const at = open.lastIndexOf(name);
      if (at === -1) continue;
      while (open.length > at) out += `</${open.pop()}>`;
      continue;
    }
    if (VOID.has(name)) {
      out += `<${name}>`;
      continue;
    }
    if (name === 'a') {
      const href = httpsHref(match[3] ?? '');
      out += href === undefined ? '<a>' : `<a href="${escapeHtml(href)}">`;
    } else out += `<${name}>`;
    open.push(name);
  }
  if (dropping === undefined) out += escapeText(input.slice(last));
  while (open.length > 0) out += `</${open.pop()}>`;
  return out;
}
