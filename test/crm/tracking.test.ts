// amoCRM's tracking fields on the customer's lead: what brought the customer (UTM tags, yclid, gclid, the referring
// site's host), kept at sign-up, is written on the lead's creation into the predefined tracking_data fields, found by
// their codes. The real worker, a database of its own, the simulator over HTTP.
import { expect } from 'chai';
import { crmWorld } from '../helpers/amocrm.js';
import { client, signUp } from '../helpers/client.js';
import { waitFor } from '../helpers/wait.js';

type Lead = { id: number; custom_fields_values: { field_code: string | null; field_type: string; values: { value: unknown }[] }[] | null };

describe('amoCRM: tracking fields of the lead', function () {
  this.timeout(120_000);

  let w: Awaited<ReturnType<typeof crmWorld>>;
  before(async () => { w = await crmWorld({ seedTrackingFields: true }); });
  after(() => w.close());

  const tracking = (leadId: number) => {
    const lead = (w.simulator.controls.leads() as unknown as Lead[]).find((l) => l.id === leadId)!;
    return Object.fromEntries((lead.custom_fields_values ?? []).filter((cf) => cf.field_type === 'tracking_data').map((cf) => [cf.field_code, cf.values[0]!.value]));
  };

  async function leadOf(email: string): Promise<number> {
    const user = await waitFor(async () => {
      const u = await w.t.db('users').whereRaw('lower(email) = ?', [email.toLowerCase()]).first();
      return u?.amo_lead_id ? u : null;
    }, 60_000, 'lead');
    return Number(user.amo_lead_id);
  }

  it('when a customer came from an ad, then the new lead carries UTM_SOURCE … GCLID and REFERRER (the referring host)', async () => {
    const agent = client(w.t.app);
    await agent.get('/?utm_source=yandex&utm_medium=cpc&utm_campaign=spring&utm_content=banner&utm_term=%D1%80%D0%BE%D0%B7%D1%8B&yclid=7391847123&gclid=Cj0KCQ')
      .set('Referer', 'https://yandex.ru/search/?text=%D1%86%D0%B2%D0%B5%D1%82%D1%8B').expect(200);
    const { email } = await signUp(agent);
    expect(tracking(await leadOf(email))).to.deep.equal({
      UTM_SOURCE: 'yandex', UTM_MEDIUM: 'cpc', UTM_CAMPAIGN: 'spring', UTM_CONTENT: 'banner', UTM_TERM: 'розы',
      REFERRER: 'yandex.ru', YCLID: '7391847123', GCLID: 'Cj0KCQ',
    });
  });

  it('when a customer came with no tags, then the lead has no tracking values and no field list is read for them', async () => {
    const from = w.simulator.controls.requests().length;
    const { email } = await signUp(client(w.t.app));
    expect(tracking(await leadOf(email))).to.deep.equal({});
    expect(w.simulator.controls.requests().slice(from).filter((r) => r.path === '/api/v4/leads/custom_fields')).to.have.length(0);
  });
});
