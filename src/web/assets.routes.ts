import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { ASSETS_DIR, ASSETS_PREFIX, HTMX_DIR } from './web-paths.js';

/**
 * Stylesheet and scripts for the pages, from this origin (the CSP allows no other). One
 * route per file found at start, no directory listing; htmx from its installed package.
 */
export async function assetRoutes(app: FastifyInstance): Promise<void> {
  await app.register(fastifyStatic, {
    root: ASSETS_DIR,
    prefix: ASSETS_PREFIX,
    wildcard: false,
    index: false,
  });
  app.get(
    `${ASSETS_PREFIX}htmx.min.js`,
    { config: { auth: { kind: 'public' } }, schema: { hide: true } },
    (_request, reply) => reply.sendFile('htmx.min.js', HTMX_DIR),
  );
}
