/**
 * One spelling per directory identity, so that writing a value differently never makes a
 * second object. Hosts and URL schemes are case-insensitive (RFC 3986 §6.2.2.1), a default
 * port is the same as none (§6.2.3), and a fully qualified name with its root dot is the
 * same host (RFC 1034 §3.1).
 */

/** `ACME.Test.` → `acme.test` */
export function canonicalHost(host: string): string {
  return host.toLowerCase().replace(/\.$/, '');
}

/**
 * A site's base URL in one form: lowercase scheme and host, no default port, no trailing
 * dot on the host, no trailing slash. `HTTPS://ACME.EXAMPLE.NET`, `https://acme.example.net/`
 * and `https://acme.example.net:443` all become `https://acme.example.net`. A path is kept
 * (a site may live under one), with its case. Returns a problem instead for what cannot
 * be a site's base URL.
 */
export function canonicalSiteUrl(input: string): { url: string } | { problem: string } {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    return { problem: 'is not a valid URL' };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    return { problem: 'must start with http:// or https://' };
  if (url.username !== '' || url.password !== '' || /[?#]/.test(input))
    return { problem: 'must be a base URL, without user, query or fragment' };
  url.hostname = canonicalHost(url.hostname);
  return { url: `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}` };
}

/**
 * App keys, installation client keys and OAuth client ids are compared without regard to
 * case (they are ASCII by their schema): two values that differ only in case name one
 * object. The stored spelling is kept and is what apps present on the wire.
 */
export function foldKey(key: string): string {
  return key.toLowerCase();
}
