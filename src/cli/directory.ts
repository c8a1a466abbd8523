import { AccessProgramme } from '../access/access.service.js';
import { AuditLog } from '../audit/audit.service.js';
import type { Config } from '../config.js';
import { loadMasterKey } from '../crypto/master-key.js';
import { SecretBox } from '../crypto/secret-box.js';
import { DirectoryService } from '../directory/directory.service.js';
import { DirectoryImporter } from '../directory/import.service.js';
import { AccountEventPropagation } from '../propagation/propagation.service.js';
import { ComplianceService } from '../reporting/compliance.service.js';
import { withDatabase } from './database.js';

export interface DirectoryCommands {
  directory: DirectoryService;
  importer: DirectoryImporter;
}

/** The directory services for one operator command, over the configured database and master key. */
export function withDirectory<T>(
  config: Config,
  fn: (services: DirectoryCommands) => Promise<T>,
): Promise<T> {
  return withDatabase(config, (database) => {
    const secrets = new SecretBox(loadMasterKey({ key: config.secretKey, keyFile: config.secretKeyFile }));
    const audit = new AuditLog(database);
    const compliance = new ComplianceService(database, config.reportCycleDays);
    const allowList = new AccessProgramme(database, audit, compliance, {
      requestsPerDay: config.accessRequestsPerDay,
    });
    const accountEvents = new AccountEventPropagation(compliance);
    return fn({
      directory: new DirectoryService(database, secrets, audit, { allowList, accountEvents }),
      importer: new DirectoryImporter(database, secrets, audit, accountEvents, {
        allowPrivateWebhooks: config.allowPrivateWebhooks,
      }),
    });
  });
}

/** Operator commands are audited as the operator at the command line. */
export const OPERATOR = { type: 'operator', id: 'cli' } as const;
