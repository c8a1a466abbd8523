import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * What a one-click unsubscribe link carries: the person and the app, signed with a key
 * derived from the master key, so the link works without signing in and cannot be made for
 * anyone else. It only ever turns notifications off, so it does not expire: a mail read
 * months later must still unsubscribe (RFC 8058).
 */
export interface UnsubscribeTarget {
  accountId: string;
  appKey: string;
}

function mac(key: Buffer, payload: string): string {
  return createHmac('sha256', key)
    .update(`unsubscribe:${payload}`)
    .digest()
    .subarray(0, 18)
    .toString('base64url');
}

export function signUnsubscribe(key: Buffer, target: UnsubscribeTarget): string {
  const payload = Buffer.from(JSON.stringify([target.accountId, target.appKey])).toString('base64url');
  return `${payload}.${mac(key, payload)}`;
}

/** The target of a token this key signed, or undefined for anything else. */
export function verifyUnsubscribe(key: Buffer, token: string): UnsubscribeTarget | undefined {
  const [payload, signature, extra] = token.split('.');
  if (!payload || !signature || extra !== undefined) return undefined;
  const expected = Buffer.from(mac(key, payload));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    if (!Array.isArray(value) || value.length !== 2) return undefined;
    const [accountId, appKey] = value as unknown[];
    if (typeof accountId !== 'string' || typeof appKey !== 'string') return undefined;
    return { accountId, appKey };
  } catch {
    return undefined;
  }
}
