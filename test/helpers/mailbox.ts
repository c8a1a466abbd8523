import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { until } from './wait.js';

export interface ReceivedMail {
  /** Envelope recipients, lower-cased. */
  to: string[];
  /** The raw message as delivered (headers and body). */
  raw: string;
  /** Header values by lower-case name (unfolded; the last one wins). */
  headers: Map<string, string>;
  /** The body with quoted-printable soft breaks and escapes decoded (all parts together). */
  body: string;
}

/** Undoes quoted-printable encoding, enough to read codes, links and text in a test. */
function decodeQuotedPrintable(text: string): string {
  return Buffer.from(
    text
      .replace(/=\r?\n/g, '')
      .replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16))),
    'latin1',
  ).toString('utf8');
}

function parse(to: string[], raw: string): ReceivedMail {
  const split = raw.search(/\r?\n\r?\n/);
  const head = split === -1 ? raw : raw.slice(0, split);
  const headers = new Map<string, string>();
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  return { to, raw, headers, body: decodeQuotedPrintable(split === -1 ? '' : raw.slice(split)) };
}

/**
 * A real SMTP server for tests: accepts every mail on a loopback port (no TLS, no auth) and
 * keeps what it received. `url` is what CUSTOS_SMTP_URL is set to.
 */
export class Mailbox {
  readonly received: ReceivedMail[] = [];
  private constructor(
    private readonly server: SMTPServer,
    readonly url: string,
  ) {}

  static async start(): Promise<Mailbox> {
    let box: Mailbox | undefined;
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          const to = session.envelope.rcptTo.map((r) => r.address.toLowerCase());
          box?.received.push(parse(to, Buffer.concat(chunks).toString('utf8')));
          callback();
        });
      },
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.server.address() as AddressInfo;
    box = new Mailbox(server, `smtp://127.0.0.1:${port}`);
    return box;
  }

  /** Every mail received for this address so far. */
  mailsTo(address: string): ReceivedMail[] {
    return this.received.filter((m) => m.to.includes(address.toLowerCase()));
  }

  /** Waits for the `count`-th mail to the address (1: the first) and returns it. */
  async waitForMail(address: string, count = 1, timeoutMs = 10_000): Promise<ReceivedMail> {
    await until(() => this.mailsTo(address).length >= count, {
      timeoutMs,
      message: `mail number ${count} to the test address`,
    });
    return this.mailsTo(address)[count - 1] as ReceivedMail;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
