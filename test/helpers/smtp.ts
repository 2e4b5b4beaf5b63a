// A real SMTP server (smtp-server) in the test process that keeps every message it receives, parsed.
import { SMTPServer } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';
import type { AddressInfo } from 'node:net';
import { waitFor } from './wait.js';

export type ReceivedMail = { to: string[]; subject: string; text: string; html: string; links: string[]; raw: ParsedMail };

let server: SMTPServer | undefined;
let port = 0;
const received: ReceivedMail[] = [];

export async function startSmtp(): Promise<void> {
  server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, _session, callback) {
      simpleParser(stream).then((mail) => {
        const to = [mail.to].flat().flatMap((a) => a?.value ?? []).map((v) => String(v.address).toLowerCase());
        const text = mail.text ?? '';
        received.push({ to, subject: mail.subject ?? '', text, html: typeof mail.html === 'string' ? mail.html : '', links: text.match(/https?:\/\/\S+/g) ?? [], raw: mail });
        callback();
      }, callback);
    },
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', () => resolve()));
  port = (server.server.address() as AddressInfo).port;
}

export async function stopSmtp(): Promise<void> {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
}

export function smtpUrl(): string {
  if (!port) throw new Error('the test SMTP server is not started (test/helpers/hooks.ts)');
  return `smtp://127.0.0.1:${port}`;
}

export function mailsTo(address: string): ReceivedMail[] {
  return received.filter((m) => m.to.includes(address.toLowerCase()));
}

/** Waits for the n-th message to the address (1 = the first ever received). */
export async function waitForMail(address: string, options: { count?: number; subject?: RegExp; ms?: number } = {}): Promise<ReceivedMail> {
  const count = options.count ?? 1;
  const matching = () => mailsTo(address).filter((m) => !options.subject || options.subject.test(m.subject));
  await waitFor(() => matching().length >= count, options.ms ?? 10_000, `mail #${count} to ${address}`);
  return matching()[count - 1]!;
}

/** The link of the n-th address-confirmation mail to the address (1 = the first). */
export async function confirmationLink(address: string, count = 1): Promise<string> {
  const mail = await waitForMail(address, { subject: /^(Подтвердите email|Confirm your email)$/, count });
  const link = mail.links.find((l) => l.includes('/confirm-email?token='));
  if (!link) throw new Error(`no confirmation link in the mail to ${address}:\n${mail.text}`);
  return link;
}
