import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/crypto/digest.js';

/**
 * Stored token hashes, notice fingerprints and the audit chain were all written with a
 * streaming SHA-256 of the text's UTF-8 bytes; the one-shot digest must give the same hex
 * for every text, or stored tokens would stop matching and the audit chain would break.
 */
describe('sha256Hex', () => {
  it('is the SHA-256 of the UTF-8 bytes, in lower-case hex (FIPS 180-4 test vector)', () => {
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('equals the streaming digest stored values were made with, for any text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }), (text, raw) => {
        for (const value of [text, raw])
          expect(sha256Hex(value)).toBe(createHash('sha256').update(value, 'utf8').digest('hex'));
      }),
      { numRuns: 500 },
    );
  });
});
