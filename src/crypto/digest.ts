import { hash } from 'node:crypto';

/**
 * SHA-256 of a text's UTF-8 bytes, in lower-case hex: how Custos stores tokens it only needs
 * to recognise (API tokens, sessions, sign-in links), fingerprints notice texts and emails,
 * and chains the audit log. One-shot: no Hash object per call, which matters on the hot
 * paths (every API request's token check, every recorded consent).
 */
export function sha256Hex(text: string): string {
  return hash('sha256', text, 'hex');
}
