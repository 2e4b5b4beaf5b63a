// The staff area in Russian shows none of the sync's English internals (connection reasons, sync-log messages,
// job errors, task names, action outcomes, column names); with ?lang=en the same things read in English.
import { expect } from 'chai';
import { client, signUp, submit } from '../helpers/client.js';
import { crmWorld } from '../helpers/amocrm.js';
import { waitFor } from '../helpers/wait.js';
import { staffAgent } from './helpers.js';

/** What the sync writes down for itself, and the column names, that used to reach the Russian pages as they were. */
const ENGLISH = ['needs re-authorization', 'not sent', 'long-lived token was refused', 'amocrm:sync-customer', 'field_id', '(queued)', 'customer sync'];

describe('staff pages in the staff\'s language', function () {
  this.timeout(60_000);
  let w: Awaited<ReturnType<typeof crmWorld>>;
  let staff: Awaited<ReturnType<typeof staffAgent>>['agent'];
  let customerId: number;

  before(async () => {
    // amoCRM refuses the configured long-lived token: the connection needs re-authorization and jobs wait.
    w = await crmWorld({ env: { AMOCRM_LONG_LIVED_TOKEN: 'a-long-lived-token-amocrm-no-longer-knows' } });
    staff = (await staffAgent(w.t)).agent;
    const { email } = await signUp(client(w.t.app));
    await signUp(client(w.t.app));
    await waitFor(async () => (await w.t.db('amocrm_sync_log').where('message', 'like', 'not sent:%').first()) !== undefined, 20_000, 'a job not sent');
    customerId = Number((await w.t.db('users').whereRaw('lower(email) = ?', [email]).first('id')).id);
    const resync = await submit(staff, `/staff/customers/${customerId}`, {}, `/staff/customers/${customerId}/resync`);
    expect(resync.status).to.equal(303);
  });
  after(() => w.close());

  const pages = () => ['/staff', '/staff/amocrm', `/staff/customers/${customerId}`];
  const text = (html: string) => html.replace(/<[^>]*>/g, ' ').replace(/&#39;/g, "'").replace(/&quot;/g, '"').replace(/&amp;/g, '&').replace(/\s+/g, ' ');

  it('when staff read the pages in Russian, then the sync\'s state, messages, tasks and outcomes are in Russian', async () => {
    const shown = await Promise.all(pages().map(async (p) => text((await staff.get(p).expect(200)).text)));
    for (const [i, page] of shown.entries()) {
      for (const phrase of ENGLISH) expect(page, `${pages()[i]} shows "${phrase}"`).not.to.include(phrase);
    }
    const [overview, amocrm, customer] = shown as [string, string, string];
    expect(amocrm).to.include('долгосрочный токен отклонён (истёк или отозван)').and.include('ID поля')
      .and.include('amoCRM: требуется повторная авторизация').and.include('не отправлено: требуется повторная авторизация')
      .and.include('отправка клиента');
    expect(customer).to.include('отправка клиента').and.include('(в очереди)');
    expect(overview).to.include('(в очереди)');
  });

  it('when staff read them with ?lang=en, then the same things are in English', async () => {
    const shown = await Promise.all(pages().map(async (p) => text((await staff.get(`${p}?lang=en`).expect(200)).text)));
    const [overview, amocrm, customer] = shown as [string, string, string];
    expect(amocrm).to.include('the long-lived token was refused (expired or revoked)').and.include('Field id')
      .and.include('amoCRM: needs re-authorization').and.include('not sent: needs re-authorization').and.include('customer sync')
      .and.not.include('amocrm:sync-customer').and.not.include('field_id');
    expect(customer).to.include('customer sync').and.include('(queued)');
    expect(overview).to.include('(queued)');
  });
});
