/** A session that works: who it is for. */
export interface LiveSession {
  id: string;
  accountId: string;
}

/**
 * Where the auth plugin reads the session a cookie's token stands for: implemented by
 * src/sessions (SessionService), wired in context.ts. Auth declares it because sessions sit
 * above auth: their clean-up is a job, and the jobs' routes declare their auth with auth.
 */
export interface SessionSource {
  authenticate(token: string): Promise<LiveSession | undefined>;
}
