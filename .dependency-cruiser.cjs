/**
 * The dependency graph of src/, checked by `npm run lint` (ARCHITECTURE.md, "Dependency
 * graph"). Four layers, lowest first; a module imports only from its own layer or lower ones:
 *
 *   1. infrastructure  db, errors, crypto, geo, shared, config.ts, logger.ts, validation.ts
 *   2. platform        audit, webhooks, jobs, worker, ops, auth, sessions, web, mail
 *   3. domains         every other folder (directory, users, consent, access, reporting,
 *                      propagation, operators, api-clients, and any new one: a new folder is
 *                      a domain until it is listed above)
 *   4. composition     app.ts, context.ts, server.ts, cli.ts, cli/, migrate-ids/ (entry points:
 *                      wire everything; nothing imports them)
 *
 * A domain reaches another domain only through that domain's `*.service.ts`, a `*.port.ts`,
 * or a pure `*.model.ts`: never its repository, routes, schemas or helpers. Schemas two
 * domains share live in src/shared.
 *
 * Type-only imports count (`tsPreCompilationDeps`): a cycle of types is still a cycle in the
 * design, and a type import of a repository still couples to its rows.
 */

const INFRASTRUCTURE = ['^src/(?:db|errors|crypto|geo|shared)/', '^src/(?:config|logger|validation)\\.ts$'];
const PLATFORM = ['^src/(?:audit|webhooks|jobs|worker|ops|auth|sessions|web|mail)/'];
const COMPOSITION = ['^src/(?:app|context|server|cli)\\.ts$', '^src/cli/', '^src/migrate-ids/'];
const NOT_A_DOMAIN =
  '(?:db|errors|crypto|geo|shared|audit|webhooks|jobs|worker|ops|auth|sessions|web|mail|cli|migrate-ids)/';
/** Any folder of src/ that is not infrastructure, platform or composition; $1 is its name. */
const DOMAIN = `^src/((?!${NOT_A_DOMAIN})[^/]+)/`;
/** What one domain may import of another. */
const PUBLIC_SURFACE = '\\.(?:service|port|model)\\.ts$';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Modules import each other in a cycle: move what both need down a layer, or declare a port.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-circular-folders',
      severity: 'error',
      comment:
        'Folders depend on each other in a cycle (through any of their modules): one of them must reach the other through a port it declares.',
      scope: 'folder',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'infrastructure-imports-only-infrastructure',
      severity: 'error',
      comment: 'Infrastructure knows no platform module and no domain.',
      from: { path: INFRASTRUCTURE },
      to: { path: '^src/', pathNot: INFRASTRUCTURE },
    },
    {
      name: 'platform-imports-no-domain',
      severity: 'error',
      comment:
        'The platform knows no domain: where it needs a domain’s data it declares a port (e.g. auth/app-credentials.port.ts) that the domain implements and context.ts wires.',
      from: { path: PLATFORM },
      to: { path: '^src/', pathNot: [...INFRASTRUCTURE, ...PLATFORM] },
    },
    {
      name: 'domain-through-public-surface',
      severity: 'error',
      comment:
        'A domain reaches another only through its *.service.ts, a *.port.ts or a pure *.model.ts; never its repository, routes or schemas (shared schemas live in src/shared).',
      from: { path: DOMAIN },
      to: { path: `^src/(?!${NOT_A_DOMAIN})[^/]+/`, pathNot: ['^src/$1/', PUBLIC_SURFACE] },
    },
    {
      name: 'nothing-imports-composition',
      severity: 'error',
      comment: 'The composition root wires everything; nothing below it may import it.',
      from: { path: '^src/', pathNot: COMPOSITION },
      to: { path: COMPOSITION },
    },
    {
      name: 'every-root-module-has-a-layer',
      severity: 'error',
      comment:
        'A module directly in src/ must be one of the known infrastructure or composition files: put new code in a folder (its layer follows from the folder).',
      from: {
        path: '^src/[^/]+\\.ts$',
        pathNot: ['^src/(?:config|logger|validation)\\.ts$', '^src/(?:app|context|server|cli)\\.ts$'],
      },
      to: {},
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
  },
};
