import type { Database } from '../db/dialect.js';
import { GroupCommit } from '../db/group-commit.js';
import { insertRequests, type NewConsentRequest } from './consent.repository.js';

/**
 * The durable inbox of accepted consent requests, written by group commit: a 202 may only
 * be sent once the request is durable, and a durable commit costs an fsync, so every
 * request that arrives while a commit is in flight shares the next one.
 */
export class ConsentInbox extends GroupCommit<NewConsentRequest> {
  constructor(database: Database, onCommitted: () => void) {
    super(database, insertRequests, onCommitted);
  }
}
