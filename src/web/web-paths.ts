import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Templates and static files live in the package's `web/` folder, beside `src/` and
 * `dist/`: resolved from this file, the same relative path works when running the sources
 * and the compiled build, and the compiler need not copy anything.
 */
export const VIEWS_DIR = fileURLToPath(new URL('../../web/views/', import.meta.url));
export const ASSETS_DIR = fileURLToPath(new URL('../../web/assets/', import.meta.url));

/** htmx is served from its package, never from a CDN: the CSP allows scripts of this origin only. */
export const HTMX_DIR = dirname(createRequire(import.meta.url).resolve('htmx.org/dist/htmx.min.js'));

/** Where static files are served; public (listed in the auth plugin's public prefixes). */
export const ASSETS_PREFIX = '/assets/';
