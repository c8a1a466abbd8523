import nodemailer from 'nodemailer';

/** One mail to one person. The address is personal data: it is never logged. */
export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html?: string;
  /** Extra headers, e.g. List-Unsubscribe (RFC 8058). */
  headers?: Record<string, string>;
}

/**
 * How Custos sends mail: over SMTP to the operator's mail server (`CUSTOS_SMTP_URL`), through
 * nodemailer. Without a URL nothing can be sent, and `enabled` says so, so that a feature
 * needing mail can say why it is unavailable instead of failing later.
 */
export interface Mailer {
  readonly enabled: boolean;
  /** Resolves once the mail server has accepted the message; rejects when it did not. */
  send(message: MailMessage): Promise<void>;
  close(): void;
}

export class MailNotConfiguredError extends Error {
  constructor() {
    super('No mail server is configured: set CUSTOS_SMTP_URL');
    this.name = 'MailNotConfiguredError';
  }
}

export function createMailer(config: { smtpUrl: string | undefined; mailFrom: string }): Mailer {
  if (config.smtpUrl === undefined) {
    return {
      enabled: false,
      send: () => Promise.reject(new MailNotConfiguredError()),
      close() {},
    };
  }
  const transport = nodemailer.createTransport(
    {
      url: config.smtpUrl,
      // A slow or silent mail server must not hold a job or a request for long.
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 30_000,
      // nodemailer's own logging would write addresses; Custos logs what it sends by id only.
      logger: false,
      debug: false,
    },
    { from: config.mailFrom },
  );
  return {
    enabled: true,
    async send(message) {
      await transport.sendMail({
        to: message.to,
        subject: message.subject,
        text: message.text,
        ...(message.html === undefined ? {} : { html: message.html }),
        ...(message.headers === undefined ? {} : { headers: message.headers }),
      });
    },
    close() {
      transport.close();
    },
  };
}
