import type { MailMessage } from '../mail/mailer.js';
import { escapeHtml, sanitizeHtml } from './html-allow-list.js';

export interface NotificationContent {
  appName: string;
  subject: string;
  text: string;
  html: string | null;
}

export interface MailLinks {
  /** The one-click unsubscribe URL (a signed token: works without signing in). */
  unsubscribe: string;
  /** The person's notification settings in the privacy centre. */
  settings: string;
}

/** One line, no control characters: what may stand in a header. */
function headerText(value: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this removes
  return value.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
}

/**
 * The mail Custos sends for an app: Custos's template, naming the app, around the app's
 * content. The text part carries the app's text as given; the HTML part its HTML rebuilt
 * from an allow list (html-allow-list.ts), or its text escaped, inside the template, whose
 * footer (who sent it, how to stop it) the app's content cannot hide. Every mail carries
 * RFC 8058 one-click unsubscribe headers.
 */
export function renderNotificationMail(
  content: NotificationContent,
  links: MailLinks,
): Omit<MailMessage, 'to'> {
  const app = headerText(content.appName);
  const subject = `[${app}] ${headerText(content.subject)}`;
  const footerText = [
    `You get this because ${app} is installed on a site you are a member of. ${app} never learns your email address: Custos sends this on its behalf.`,
    `Stop notifications from ${app}: ${links.unsubscribe}`,
    `Choose which notifications you get: ${links.settings}`,
  ].join('\n');
  const text = `Message from ${app}, sent by Custos\n\n${content.text}\n\n-- \n${footerText}\n`;
  const body =
    content.html !== null
      ? sanitizeHtml(content.html)
      : content.text
          .split(/\r?\n\s*\r?\n/)
          .map((paragraph) => `<p>${escapeHtml(paragraph).replace(/\r?\n/g, '<br>')}</p>`)
          .join('\n');
  const appHtml = escapeHtml(app);
  const html = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${escapeHtml(subject)}</title></head>
<body style="font-family: sans-serif; color: #172b4d; line-height: 1.5;">
<p style="color: #44546f; font-size: 0.9em;">Message from <strong>${appHtml}</strong>, sent by Custos</p>
<div>
${body}
</div>
<hr>
<div style="color: #44546f; font-size: 0.85em;">
<p>You get this because ${appHtml} is installed on a site you are a member of. ${appHtml} never learns your email address: Custos sends this on its behalf.</p>
<p><a href="${escapeHtml(links.unsubscribe)}">Stop notifications from ${appHtml}</a> · <a href="${escapeHtml(links.settings)}">Choose which notifications you get</a></p>
</div>
</body>
</html>
`;
  return {
    subject,
    text,
    html,
    headers: {
      'List-Unsubscribe': `<${links.unsubscribe}>`,
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
      'Auto-Submitted': 'auto-generated',
    },
  };
}
