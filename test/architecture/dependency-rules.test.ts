import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const depcruise = join(root, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');
/** The dependency check of `npm run lint`, word for word (asserted below). */
const CHECK = 'depcruise src --config .dependency-cruiser.cjs';

interface Run {
  code: number;
  stdout: string;
}

function cruise(cwd: string, extra: string[] = []): Promise<Run> {
  const args = [depcruise, ...CHECK.split(' ').slice(1), ...extra];
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { cwd, maxBuffer: 64 * 1024 * 1024 }, (error, stdout) => {
      if (error && typeof error.code !== 'number') reject(error);
      else resolve({ code: error ? Number(error.code) : 0, stdout });
    });
  });
}

interface Violation {
  from: string;
  to: string;
  rule: { name: string };
}

/**
 * Imports a change might add, each in a file of its own, with the rule that must refuse it.
 * Written into a copy of the tree, never into src/ itself.
 */
const PROBES: { file: string; source: string; rule: string | undefined }[] = [
  {
    file: 'src/users/probe-repository.ts',
    source: "export { findApp } from '../directory/app.repository.js';",
    rule: 'domain-through-public-surface',
  },
  {
    // A type is a dependency too: a type import of a repository still couples to its rows.
    file: 'src/users/probe-type-only.ts',
    source:
      "import type * as accounts from '../directory/account.repository.js';\nexport type A = typeof accounts;",
    rule: 'domain-through-public-surface',
  },
  {
    file: 'src/users/probe-schemas.ts',
    source: "export { AdminApp } from '../directory/admin.schemas.js';",
    rule: 'domain-through-public-surface',
  },
  {
    // A folder no rule names is a domain: new domains are held to the rules at once.
    file: 'src/billing/probe-new-domain.ts',
    source: "export { insertNotices } from '../reporting/reporting.repository.js';",
    rule: 'domain-through-public-surface',
  },
  {
    file: 'src/shared/probe-infrastructure.ts',
    source: "export { DirectoryService } from '../directory/directory.service.js';",
    rule: 'infrastructure-imports-only-infrastructure',
  },
  {
    file: 'src/db/probe-infrastructure.ts',
    source: "export { AuditLog } from '../audit/audit.service.js';",
    rule: 'infrastructure-imports-only-infrastructure',
  },
  {
    file: 'src/auth/probe-platform.ts',
    source: "export { findAccount } from '../directory/directory-read.service.js';",
    rule: 'platform-imports-no-domain',
  },
  {
    // Through the public surface, but users already depends on the directory: a folder cycle.
    file: 'src/directory/probe-folder-cycle.ts',
    source: "export { UserService } from '../users/user.service.js';",
    rule: 'no-circular-folders',
  },
  {
    // Platform folders are ordered too: the audit log sits above auth, whose scopes its routes declare.
    file: 'src/auth/probe-platform-cycle.ts',
    source: "export type { AuditLog } from '../audit/audit.service.js';",
    rule: 'no-circular-folders',
  },
  {
    file: 'src/consent/probe-composition.ts',
    source: "export { createContext } from '../context.js';",
    rule: 'nothing-imports-composition',
  },
  {
    file: 'src/shared/probe-cycle-a.ts',
    source: "import { b } from './probe-cycle-b.js';\nexport const a = () => b;",
    rule: 'no-circular',
  },
  {
    // The same cycle: reported once, on the module it is found from (probe-cycle-a.ts).
    file: 'src/shared/probe-cycle-b.ts',
    source: "import { a } from './probe-cycle-a.js';\nexport const b = () => a;",
    rule: undefined,
  },
  {
    file: 'src/probe-root.ts',
    source: "export { loggerOptions } from './logger.js';",
    rule: 'every-root-module-has-a-layer',
  },
  {
    // What a domain may use of another: its service, a port, its model; and any platform module.
    file: 'src/users/probe-allowed.ts',
    source: [
      "export { listMemberAccounts } from '../directory/directory-read.service.js';",
      "export type { EmailApiAllowList } from '../directory/email-api-allow-list.port.js';",
      "export { withDefaultVisibility } from '../directory/account.model.js';",
      "export { enqueueWebhooks } from '../webhooks/webhook-dispatcher.js';",
      "export { normalizeEmail } from '../shared/email.js';",
    ].join('\n'),
    rule: undefined,
  },
];

let copy: string;

beforeAll(() => {
  copy = mkdtempSync(join(tmpdir(), 'custos-dependency-rules-'));
  cpSync(join(root, 'src'), join(copy, 'src'), { recursive: true });
  for (const file of ['.dependency-cruiser.cjs', 'tsconfig.json', 'package.json'])
    cpSync(join(root, file), join(copy, file));
  symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'), 'dir');
  for (const probe of PROBES) {
    mkdirSync(dirname(join(copy, probe.file)), { recursive: true });
    writeFileSync(join(copy, probe.file), `${probe.source}\n`);
  }
});
afterAll(() => {
  rmSync(copy, { recursive: true, force: true });
});

describe('the dependency graph (npm run lint)', () => {
  it('is checked by npm run lint', () => {
    const scripts = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts;
    expect(scripts.lint).toContain(CHECK);
  });

  it('holds on the tree: no cycles, no import against the layers', { timeout: 120_000 }, async () => {
    const run = await cruise(root);
    expect(run.stdout).toContain('no dependency violations found');
    expect(run.code).toBe(0);
  });

  it('fails on each import that breaks it, and only on those', { timeout: 120_000 }, async () => {
    const failing = await cruise(copy);
    expect(failing.code).not.toBe(0);

    const json = await cruise(copy, ['--output-type', 'json']);
    const violations: Violation[] = JSON.parse(json.stdout).summary.violations;
    const byModule = violations.filter((v) => v.rule.name !== 'no-circular-folders');
    expect([...new Set(byModule.map((v) => `${v.from} ${v.rule.name}`))].sort()).toEqual(
      PROBES.flatMap((p) =>
        p.rule && p.rule !== 'no-circular-folders' ? [`${p.file} ${p.rule}`] : [],
      ).sort(),
    );
    // Folder cycles are reported between folders (the probes into lower layers make some too).
    const folderCycles = violations.filter((v) => v.rule.name === 'no-circular-folders');
    const cycles = folderCycles.map((v) => `${v.from} → ${v.to}`);
    expect(cycles).toContain('src/directory → src/users');
    expect(cycles).toContain('src/auth → src/audit');
  });
});
