// Outgoing mail: rendered from views/emails/<template>.html.njk and .txt.njk in the recipient's language, sent
// through SMTP_URL, or — with no SMTP configured — written to var/mail/*.eml with its links logged, so that a
// development install can still follow a reset link.
import { mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import nodemailer from 'nodemailer';
import nunjucks from 'nunjucks';
import type { Knex } from 'knex';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { formatDate, formatDateTime, formatMoney, translator, type Language, type MessageKey } from '../i18n/i18n.js';
import { createSentMailModel } from '../models/sent-mail-model.js';

export type MailTemplate = 'password-reset' | 'password-changed' | 'email-changed' | 'signup-attempt' | 'login-code' | 'account-deleted'
  | 'email-confirmation' | 'email-change-requested' | 'delivery-reminder';

/**
 * `subjectParams` fill the subject's placeholders. `unsubscribeUrl` makes it a service mail one can stop: the
 * List-Unsubscribe header with that https URL and List-Unsubscribe-Post for the one-click POST of RFC 8058.
 * `messageId` gives a mail a stable Message-ID, so that a copy sent again is recognised as the same message.
 * `userId` makes it a notice on that customer's timeline (table sent_mails: the template and when the mail server
 * accepted it); sign-in codes, reset links and reminders (kept in their own table) leave it out.
 */
export type Mail = {
  to: string; template: MailTemplate; language: Language; params?: Record<string, unknown>;
  subjectParams?: Record<string, string | number>; unsubscribeUrl?: string; messageId?: string; userId?: number;
};

export function createMailer({ config, logger, db }: { config: Config; logger: Logger; db?: Knex }) {
  const views = new nunjucks.Environment(new nunjucks.FileSystemLoader(path.join(config.paths.views, 'emails')), { autoescape: true });
  const transport = config.smtpUrl
    ? nodemailer.createTransport(config.smtpUrl)
    : nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  const mailDir = path.join(config.paths.varDir, 'mail');

  function render(mail: Mail) {
    const t = translator(mail.language);
    const context = {
      ...mail.params, lang: mail.language, t, appUrl: config.appUrl,
      money: (k: number) => formatMoney(k, mail.language),
      date: (iso: string) => formatDate(iso, mail.language),
      dateTime: (d: Date | string) => formatDateTime(new Date(d), config.shopTimeZone, mail.language),
    };
    return {
      subject: t(`email.${mail.template}.subject` as MessageKey, mail.subjectParams),
      html: views.render(`${mail.template}.html.njk`, context),
      text: views.render(`${mail.template}.txt.njk`, context),
    };
  }

  return {
    render,
    async send(mail: Mail): Promise<void> {
      const message = {
        from: config.mailFrom, to: mail.to, ...render(mail),
        ...(mail.messageId ? { messageId: mail.messageId } : {}),
        ...(mail.unsubscribeUrl ? { list: { unsubscribe: mail.unsubscribeUrl }, headers: { 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' } } : {}),
      };
      const info = await transport.sendMail(message);
      if (!config.smtpUrl) {
        mkdirSync(mailDir, { recursive: true });
        const file = path.join(mailDir, `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(3).toString('hex')}.eml`);
        writeFileSync(file, (info as unknown as { message: Buffer }).message);
        const links = message.text.match(/https?:\/\/\S+/g) ?? [];
        logger.info({ file, template: mail.template, links }, 'mail written to a file (no SMTP_URL configured)');
      } else {
        logger.info({ template: mail.template, messageId: info.messageId }, 'mail sent');
      }
      // Accepted: a failure to note it must not fail the job, which would send the mail a second time.
      if (db && mail.userId !== undefined) {
        await createSentMailModel(db).record(mail.userId, mail.template)
          .catch((error: Error) => logger.warn({ template: mail.template, err: error.message }, 'a sent mail could not be noted on the timeline'));
      }
    },
  };
}

export type Mailer = ReturnType<typeof createMailer>;
