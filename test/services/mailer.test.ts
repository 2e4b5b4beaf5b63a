// When the mail server refuses a recipient or a message, the job fails and is logged, and the log names the
// recipient only by its hash (SECURITY S18), however much of the address the SMTP answer and nodemailer's error
// repeat.
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { SMTPServer } from 'smtp-server';
import { emailHash, hideEmails } from '../../src/logger.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { client, signUp, submit, signupFields } from '../helpers/client.js';
import { freshDatabase } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';

type Refusal = 'recipient' | 'message';

/** A real SMTP server that answers every recipient or every message with an error that repeats the address, as real servers do. */
async function refusingSmtp(refusal: Refusal) {
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onRcptTo(address, _session, callback) {
      if (refusal === 'message') return callback();
      const error = new Error(`5.1.1 <${address.address}>: Recipient address rejected: User unknown in virtual mailbox table`) as Error & { responseCode: number };
      error.responseCode = 550;
      callback(error);
    },
    onData(stream, session, callback) {
      stream.resume();
      stream.on('end', () => {
        const error = new Error(`5.7.1 Message to ${session.envelope.rcptTo.map((r) => `<${r.address}>`).join(', ')} refused by policy`) as Error & { responseCode: number };
        error.responseCode = 554;
        callback(error);
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.server.address() as AddressInfo;
  return { url: `smtp://127.0.0.1:${port}`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('mail failures in the logs (S18)', function () {
  this.timeout(60_000);

  for (const refusal of ['recipient', 'message'] as const) {
    describe(`when the mail server refuses the ${refusal}`, () => {
      let smtp: Awaited<ReturnType<typeof refusingSmtp>>;
      let database: Awaited<ReturnType<typeof freshDatabase>>;
      let t: TestApp;
      before(async () => {
        smtp = await refusingSmtp(refusal);
        database = await freshDatabase(); // its own job queue: no other test's failing mail is retried here
        t = createTestApp({ env: { SMTP_URL: smtp.url }, databaseUrl: database.url });
        await t.startWorker();
      });
      after(async () => {
        await t.close();
        await database.drop();
        await smtp.close();
      });

      /** The task's failure is logged, naming the address by its hash, and no log line holds the address or its local part. */
      async function expectFailureWithoutAddress(task: string, email: string) {
        const failure = await waitFor(() => t.logs.find((l) => l.includes(`"task":"${task}"`) && l.includes('"level":50')), 20_000, `the failed ${task} is logged`);
        const local = email.split('@')[0]!;
        const holding = t.logs.filter((l) => l.toLowerCase().includes(local.toLowerCase()));
        expect(holding, 'log lines that hold the address').to.deep.equal([]);
        expect(failure).to.match(refusal === 'recipient' ? /550|rejected/i : /554|refused/i); // the log still says what went wrong
        expect(failure).to.include(`[email ${emailHash(email)}]`); // and to whom, by the address's hash
      }

      it('then the failed password-reset mail is logged without the address', async () => {
        const { email } = await signUp(client(t.app));
        await submit(client(t.app), '/forgot-password', { email });
        await expectFailureWithoutAddress('auth:password-reset', email);
      });

      it('then the failed notice to an existing account is logged without the address', async () => {
        const { email } = await signUp(client(t.app));
        const again = await submit(client(t.app), '/signup', signupFields({ email }));
        expect(again.status).to.equal(422); // the form says the address is taken; its owner is told by mail
        await expectFailureWithoutAddress('mail:send', email);
      });
    });
  }
});

describe('hideEmails (every written log line)', () => {
  it('when a line holds addresses, then each is replaced by its hash, and other @ uses stay', () => {
    expect(hideEmails('{"msg":"550 <Ivan.Petrov+shop@Mail.example.ru>: rejected, Анна@почта.рф too; postgres://u:p@127.0.0.1/db"}')).to.equal(
      `{"msg":"550 <[email ${emailHash('ivan.petrov+shop@mail.example.ru')}]>: rejected, [email ${emailHash('анна@почта.рф')}] too; postgres://u:p@127.0.0.1/db"}`);
  });

  it('when a line is long and odd, then it still takes linear time', () => {
    const long = 'a'.repeat(50_000);
    const started = performance.now();
    for (const line of [`x@example.ru ${long}`, `${long}@${long}.ru`, `${'a.'.repeat(25_000)}@b`]) hideEmails(line);
    expect(performance.now() - started).to.be.below(200);
  });
});
