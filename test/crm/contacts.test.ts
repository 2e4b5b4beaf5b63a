// One contact per customer in amoCRM: a customer who is already there (an order by phone) gets the new lead linked to
// the existing contact, found by the exact email; a contact that merely mentions the address is left alone.
// The real worker, a database of its own, the simulator over HTTP.
import { expect } from 'chai';
import type { AmoSimulator } from '../../src/crm/simulator/simulator.js';
import { crmWorld } from '../helpers/amocrm.js';
import { client, signUp } from '../helpers/client.js';
import { waitFor } from '../helpers/wait.js';

type Contact = { id: number; name: string; custom_fields_values: { field_code: string | null; values: { value: string }[] }[] | null };
type Lead = { id: number; name: string; _embedded?: { contacts?: { id: number }[] } };

describe('amoCRM: one contact per customer', function () {
  this.timeout(120_000);

  let w: Awaited<ReturnType<typeof crmWorld>>;
  before(async () => { w = await crmWorld(); });
  after(() => w.close());

  const contactsOf = (sim: AmoSimulator) => sim.controls.contacts() as unknown as Contact[];
  const leadsOf = (sim: AmoSimulator) => sim.controls.leads() as unknown as Lead[];
  const emailsOf = (c: Contact) => (c.custom_fields_values ?? []).filter((f) => f.field_code === 'EMAIL').flatMap((f) => f.values.map((v) => v.value));
  const withEmail = (email: string) => contactsOf(w.simulator).filter((c) => emailsOf(c).some((e) => e.trim().toLowerCase() === email));

  /** A contact made in amoCRM beforehand (by a manager, or another integration), through the API. */
  async function existingContact(body: Record<string, unknown>): Promise<number> {
    const res = await fetch(`${w.url}/api/v4/contacts`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${w.t.config.amocrm.longLivedToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify([body]),
    });
    expect(res.status).to.equal(200);
    return ((await res.json()) as { _embedded: { contacts: { id: number }[] } })._embedded.contacts[0]!.id;
  }

  async function signedUp(email: string) {
    await signUp(client(w.t.app), { email });
    return waitFor(async () => {
      const u = await w.t.db('users').whereRaw('lower(email) = ?', [email]).first();
      return u?.amo_lead_id ? u : null;
    }, 60_000, 'lead');
  }

  it('when a contact with the same email (other case, spaces) exists, then the lead is linked to it and no second contact is made', async () => {
    const email = 'olga.phone@example.ru';
    const contactId = await existingContact({
      name: 'Ольга (заказ по телефону)',
      custom_fields_values: [
        { field_code: 'EMAIL', values: [{ value: '  Olga.Phone@Example.RU ', enum_code: 'WORK' }] },
        { field_code: 'PHONE', values: [{ value: '+79160000001', enum_code: 'MOB' }] },
      ],
    });
    const user = await signedUp(email);
    expect(withEmail(email).map((c) => c.id)).to.deep.equal([contactId]);
    expect(Number(user.amo_contact_id)).to.equal(contactId);
    const lead = leadsOf(w.simulator).find((l) => l.id === Number(user.amo_lead_id))!;
    expect(lead._embedded?.contacts?.map((c) => c.id)).to.deep.equal([contactId]);
  });

  it('when contacts only contain the email in a longer address or mention it in another field, then they are not reused', async () => {
    const email = 'anna@example.ru';
    const longer = await existingContact({ name: 'Ксанна', custom_fields_values: [{ field_code: 'EMAIL', values: [{ value: 'xanna@example.ru', enum_code: 'WORK' }] }] });
    const mentions = await existingContact({
      name: 'Мама anna@example.ru',
      custom_fields_values: [
        { field_code: 'EMAIL', values: [{ value: 'mama@example.ru', enum_code: 'PRIV' }] },
        { field_code: 'POSITION', values: [{ value: 'дочь: anna@example.ru' }] },
      ],
    });
    const from = w.simulator.controls.requests().length;
    const user = await signedUp(email);
    // amoCRM's search did find both: the exact match on the EMAIL field is what keeps them apart.
    const search = w.simulator.controls.requests().slice(from).find((r) => r.method === 'GET' && r.path === '/api/v4/contacts');
    expect(search?.status).to.equal(200);
    const own = withEmail(email);
    expect(own).to.have.length(1);
    expect(own[0]!.id).not.to.be.oneOf([longer, mentions]);
    expect(Number(user.amo_contact_id)).to.equal(own[0]!.id);
    const linked = leadsOf(w.simulator).flatMap((l) => l._embedded?.contacts?.map((c) => c.id) ?? []);
    expect(linked).not.to.include(longer);
    expect(linked).not.to.include(mentions);
  });

  it('when the answer to the lead creation is lost, then the retried job adopts the lead: one lead and one contact', async () => {
    const email = 'lost.answer@example.ru';
    w.simulator.controls.loseAnswer({ method: 'POST', path: /^\/api\/v4\/leads\/complex$/ });
    const user = await signedUp(email);
    expect(leadsOf(w.simulator).filter((l) => l.name.endsWith(email)).map((l) => l.id)).to.deep.equal([Number(user.amo_lead_id)]);
    expect(withEmail(email).map((c) => c.id)).to.deep.equal([Number(user.amo_contact_id)]);
    const outcome = await w.t.db('amocrm_sync_log').where({ user_id: user.id }).orderBy('id').pluck('outcome');
    expect(outcome[0]).to.equal('retry');
  });
});
