import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { guardedLookup, isPublicAddress } from './webhook-url.js';

export interface SignedPost {
  url: string;
  /** Several secrets during a rotation: each signs, so the receiver accepts either. */
  secrets: string[];
  /** `webhook-id`: the same for every attempt of one message, so receivers deduplicate. */
  id: string;
  /** The JSON body, signed exactly as sent. */
  payload: string;
  timeoutMs: number;
  /** Connect to loopback/private addresses too; refused otherwise (SSRF). */
  allowPrivate: boolean;
}

export interface PostResponse {
  status: number;
  retryAfter: string | undefined;
}

/**
 * POSTs one message signed per Standard Webhooks (`standardwebhooks`), with a connect-time
 * guard against non-public addresses. Resolves with the status whatever it is; rejects on
 * network errors and timeouts (with a `code` such as ETIMEDOUT or ECUSTOSPRIVATE).
 */
export function postSignedWebhook(post: SignedPost): Promise<PostResponse> {
  const timestamp = new Date();
  // One signature per active secret, space-separated, so receivers accept either during a rotation.
  const signature = post.secrets.map((s) => new Webhook(s).sign(post.id, timestamp, post.payload)).join(' ');
  const url = new URL(post.url);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  // An IP literal is connected to without a lookup, so the lookup guard cannot see it.
  if (!post.allowPrivate && isIP(host) !== 0 && !isPublicAddress(host)) {
    return Promise.reject(Object.assign(new Error('private webhook target'), { code: 'ECUSTOSPRIVATE' }));
  }
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const request = client.request(
      url,
      {
        method: 'POST',
        timeout: post.timeoutMs,
        lookup: guardedLookup(post.allowPrivate) as never,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Custos-Webhooks/1',
          'webhook-id': post.id,
          'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
          'webhook-signature': signature,
        },
      },
      (res) => {
        res.resume();
        const retryAfter = res.headers['retry-after'];
        resolve({
          status: res.statusCode ?? 0,
          retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter,
        });
      },
    );
    request.on('timeout', () => request.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    request.on('error', reject);
    request.end(post.payload);
  });
}
