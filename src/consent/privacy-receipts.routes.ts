import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { decodeJwt } from 'jose';
import Type from 'typebox';
import { personOf } from '../auth/principal.js';
import { errorResponses } from '../errors/error.schemas.js';
import type { PreferenceService } from './preference.service.js';
import { DO_NOT_SELL_OR_SHARE } from './receipt.model.js';
import { DoNotSellForm, ReceiptParams, ReceiptsPageQuery } from './receipt.schemas.js';
import type { ReceiptService, ReceiptView } from './receipt.service.js';

/** The privacy centre's pages live under this path; GPC signals are honoured on all of them. */
export const PRIVACY_PREFIX = '/privacy';

const auth = { kind: 'account' } as const;

/** What the receipts page says after the person changed their preference (post/redirect/get). */
const DONE: Record<string, string> = {
  'do-not-sell-on': 'Done. We have told the apps not to sell or share your personal information.',
  'do-not-sell-off': 'Done. We have told the apps that “do not sell or share” is off.',
  unchanged: 'Nothing to change: your choice was already like this.',
};

export interface PrivacyReceiptOptions {
  receipts: ReceiptService;
  preferences: PreferenceService;
  /** The signed-in person's email, from the directory: their consent events are keyed by it. */
  emailOf(accountId: string): Promise<string | undefined>;
}

const STATUS_WORDS: Record<string, string> = {
  given: 'Given',
  withdrawn: 'Withdrawn',
  objected: 'Objected',
  'opted-out': 'Opted out',
};

const METHOD_WORDS: Record<string, string> = {
  api: 'A website form, through the consent API',
  'privacy-centre': 'Your privacy centre',
  objection: 'Your objection to direct marketing',
  gpc: 'Your browser’s Global Privacy Control signal',
};

const PURPOSE_WORDS: Record<string, string> = {
  generalMarketingOptIn: 'Marketing email',
  [DO_NOT_SELL_OR_SHARE]: 'Do not sell or share my personal information',
};

/** `2026-12-01 17:04 UTC`: minutes are enough for a person; the receipt holds the exact time. */
function shortTime(iso: string): string {
  return `${iso.replace('T', ' ').slice(0, 16)} UTC`;
}

/** A receipt as the page lists it; the claims are Custos's own, signed a moment ago or long since. */
function rowOf(receipt: ReceiptView) {
  const claims = decodeJwt(receipt.jws) as { status?: string };
  return {
    receiptId: receipt.receiptId,
    purpose: PURPOSE_WORDS[receipt.purpose] ?? receipt.purpose,
    status: STATUS_WORDS[claims.status ?? ''] ?? claims.status ?? '',
    method: METHOD_WORDS[receipt.method] ?? receipt.method,
    issuedAt: shortTime(receipt.issuedAt),
  };
}

function accountIdOf(request: FastifyRequest): string | undefined {
  const principal = request.principal;
  return principal?.kind === 'account' || principal?.kind === 'operator' ? principal.accountId : undefined;
}

/**
 * Global Privacy Control: a signed-in person's browser sending `Sec-GPC: 1` to any page of
 * the privacy centre records "do not sell or share" for them (CCPA; see
 * docs/legal-rules.md#global-privacy-control). For the web context, after the person check.
 * Recording is idempotent, so the signal on every request records it once.
 */
export function gpcSignalHook(preferences: PreferenceService): preHandlerAsyncHookHandler {
  return async (request) => {
    if (request.headers['sec-gpc'] !== '1') return;
    const path = request.url.split('?')[0] ?? '';
    if (path !== PRIVACY_PREFIX && !path.startsWith(`${PRIVACY_PREFIX}/`)) return;
    const accountId = accountIdOf(request);
    if (accountId) await preferences.recordGpcSignal(accountId);
  };
}

/** The privacy centre's receipts page: the person's preferences and signed receipts, to keep. */
export const privacyReceiptRoutes: FastifyPluginAsyncTypebox<PrivacyReceiptOptions> = async (
  app,
  { receipts, preferences, emailOf },
) => {
  app.get(
    `${PRIVACY_PREFIX}/receipts`,
    { config: { auth }, schema: { hide: true, querystring: ReceiptsPageQuery } },
    async (request, reply) => {
      const { accountId } = personOf(request);
      const email = await emailOf(accountId);
      const mine = await receipts.listReceiptsOf(accountId, email);
      const prefs = await preferences.listPreferencesOf(accountId);
      const doNotSell = prefs.find((p) => p.preference === DO_NOT_SELL_OR_SHARE);
      const { done } = request.query;
      return reply.page('privacy/receipts', {
        title: 'Your consent receipts',
        done: done === undefined ? undefined : DONE[done],
        doNotSell: doNotSell
          ? {
              value: doNotSell.value,
              method: METHOD_WORDS[doNotSell.method] ?? doNotSell.method,
              recordedAt: shortTime(doNotSell.recordedAt),
            }
          : undefined,
        // This request's own signal: the page says so when the person's choice differs from it.
        gpcSignal: request.headers['sec-gpc'] === '1',
        receipts: mine.map(rowOf),
      });
    },
  );

  app.post(
    `${PRIVACY_PREFIX}/preferences/do-not-sell-or-share`,
    {
      config: { auth },
      schema: {
        hide: true,
        body: DoNotSellForm,
        response: { 303: Type.Null(), ...errorResponses(400, 401, 403, 500) },
      },
    },
    async (request, reply) => {
      const on = request.body.choice === 'on';
      const changed = await preferences.setDoNotSellOrShare(personOf(request).accountId, on);
      const done = changed ? `do-not-sell-${on ? 'on' : 'off'}` : 'unchanged';
      return reply.redirect(`${PRIVACY_PREFIX}/receipts?done=${done}`, 303);
    },
  );

  app.get(
    `${PRIVACY_PREFIX}/receipts/:receiptId`,
    {
      config: { auth },
      schema: { hide: true, params: ReceiptParams, response: { 200: Type.String(), ...errorResponses(404) } },
    },
    async (request, reply) => {
      const { accountId } = personOf(request);
      const receipt = await receipts.getReceiptOf(
        accountId,
        await emailOf(accountId),
        request.params.receiptId,
      );
      // RFC 7515 §9.2.1: application/jose is the compact serialization's media type.
      return reply
        .type('application/jose')
        .header('content-disposition', `attachment; filename="consent-receipt-${receipt.receiptId}.jws"`)
        .header('cache-control', 'no-store')
        .send(receipt.jws);
    },
  );
};
