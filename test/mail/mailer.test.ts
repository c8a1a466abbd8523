import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMailer, MailNotConfiguredError } from '../../src/mail/mailer.js';
import { Mailbox } from '../helpers/mailbox.js';

describe('mail over SMTP', () => {
  let mailbox: Mailbox;
  beforeAll(async () => {
    mailbox = await Mailbox.start();
  });
  afterAll(async () => {
    await mailbox?.close();
  });

  it('delivers to a real SMTP server with the configured From and the given headers', async () => {
    const mailer = createMailer({ smtpUrl: mailbox.url, mailFrom: 'Custos <custos@operator.test>' });
    expect(mailer.enabled).toBe(true);
    await mailer.send({
      to: 'Person@Example.test',
      subject: 'Your code',
      text: 'Your code is 12345678 — valid for 10 minutes.',
      headers: { 'List-Unsubscribe': '<https://custos.test/u/1>' },
    });
    const mail = await mailbox.waitForMail('person@example.test');
    expect(mail.headers.get('from')).toBe('Custos <custos@operator.test>');
    expect(mail.headers.get('subject')).toBe('Your code');
    expect(mail.headers.get('list-unsubscribe')).toBe('<https://custos.test/u/1>');
    expect(mail.body).toContain('Your code is 12345678 — valid for 10 minutes.');
    mailer.close();
  });

  it('without a server says so and refuses to send', async () => {
    const mailer = createMailer({ smtpUrl: undefined, mailFrom: 'Custos <custos@localhost>' });
    expect(mailer.enabled).toBe(false);
    await expect(mailer.send({ to: 'a@example.test', subject: 's', text: 't' })).rejects.toBeInstanceOf(
      MailNotConfiguredError,
    );
  });

  it('refuses a mail server that is not listening, without hanging', async () => {
    const mailer = createMailer({ smtpUrl: 'smtp://127.0.0.1:1', mailFrom: 'Custos <custos@localhost>' });
    await expect(mailer.send({ to: 'a@example.test', subject: 's', text: 't' })).rejects.toThrow();
    mailer.close();
  });
});
