import type { Command } from 'commander';
import type { Config } from '../config.js';
import { parseJwks, verifyReceipt } from '../consent/receipt-verify.js';
import { KeyRing, publicKeyOfFile } from '../crypto/key-ring.js';
import { readSource } from './audit.commands.js';

export function registerReceiptCommands(program: Command, config: () => Config, say: (line: string) => void) {
  const receipt = program.command('receipt').description('Signed consent receipts and their signing keys');

  receipt
    .command('verify <file>')
    .description(
      'Verify a consent receipt (a compact JWS) against the published keys; exits 1 when it does not verify',
    )
    .option(
      '--jwks <file|url>',
      'the JWK Set to verify with, e.g. https://custos.example.com/.well-known/jwks.json (default: the keys in CUSTOS_RECEIPT_KEYS_DIR)',
    )
    .action(async (file: string, opts: { jwks?: string }) => {
      const cfg = config();
      try {
        const jws = (await readSource(file, cfg.webhookTimeoutMs)).trim();
        const jwks = opts.jwks
          ? parseJwks(await readSource(opts.jwks, cfg.webhookTimeoutMs), opts.jwks)
          : { keys: await new KeyRing(cfg.receiptKeysDir, false).publicKeys() };
        const verified = await verifyReceipt(jws, jwks);
        say(
          `Receipt ${verified.receiptId} verifies with key ${verified.kid}: ${verified.purpose} ${verified.status} ` +
            `(${verified.collectionMethod}) at ${new Date(verified.consentTimestamp * 1000).toISOString()} ` +
            `for ${verified.piiPrincipalId}`,
        );
      } catch (error) {
        if (!(error instanceof Error)) throw error;
        process.stderr.write(`custos: receipt ${file} does NOT verify: ${error.message}\n`);
        process.exitCode = 1;
      }
    });

  receipt
    .command('rotate-key')
    .description(
      'Make a new receipt signing key in CUSTOS_RECEIPT_KEYS_DIR; it signs from the next receipt, and every earlier key stays published',
    )
    .action(async () => {
      const ring = new KeyRing(config().receiptKeysDir, false);
      const path = ring.rotate();
      const jwk = await publicKeyOfFile(path);
      say(`New receipt signing key ${jwk.kid} in ${path}`);
      say('Earlier keys stay published at /.well-known/jwks.json, so their receipts still verify.');
    });
}
