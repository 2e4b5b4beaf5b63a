// The simulator's contacts, links, notes, pipelines and account endpoints, and the staff controls over
// HTTP — the parts of amoCRM the integration touches beyond creating leads.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { createAmoSimulator, SIMULATOR_DEFAULTS, type AmoSimulator } from '../../src/crm/simulator/simulator.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the tests walk amoCRM's JSON answers freely
type Answer = { status: number; headers: Headers; text: string; json: any };

async function call(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, { redirect: 'manual', ...init });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: text && /json/.test(res.headers.get('content-type') ?? '') ? JSON.parse(text) : null };
}

describe('amoCRM simulator: contacts, links, notes, pipelines', () => {
  let sim: AmoSimulator;
  let base: string;
  let token: string;
  const api = (method: string, path: string, body?: unknown) => call(`${base}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const control = (path: string, body: unknown = {}) => call(`${base}/__simulator${path}`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });

  before(async () => {
    sim = createAmoSimulator({ seedLeadFields: true, rateLimitPerSecond: 1000 });
    ({ url: base } = await sim.listen());
  });
  after(() => sim.close());
  beforeEach(() => {
    sim.controls.reset();
    token = sim.controls.issueLongLivedToken();
  });

  describe('GET /api/v4/leads/pipelines', () => {
    it('when read, then one main pipeline lists the unsorted stage (type 1), the shop stages and the system stages 142 and 143', async () => {
      const res = await api('GET', '/api/v4/leads/pipelines');
      expect(res.status).to.equal(200);
      expect(res.json._total_items).to.equal(1);
      const [pipeline] = res.json._embedded.pipelines;
      expect(pipeline).to.include({ is_main: true, account_id: SIMULATOR_DEFAULTS.accountId });
      const statuses = pipeline._embedded.statuses as { id: number; name: string; type: number; pipeline_id: number }[];
      expect(statuses.map((s) => s.name)).to.deep.equal(['Неразобранное', 'Новая заявка', 'Подписка активна', 'Доставка запланирована', 'Пауза', 'Успешно реализовано', 'Закрыто и не реализовано']);
      expect(statuses[0]!.type).to.equal(1);
      expect(statuses.slice(-2).map((s) => s.id)).to.deep.equal([142, 143]);
      expect(statuses.every((s) => s.pipeline_id === pipeline.id)).to.equal(true);
      const unsorted = await api('POST', '/api/v4/leads', [{ status_id: statuses[0]!.id }]);
      expect(unsorted.json['validation-errors'][0].errors[0]).to.include({ code: 'NotSupportedChoice', path: 'status_id' });
    });
  });

  describe('POST/PATCH /api/v4/contacts and POST /api/v4/leads/{id}/link', () => {
    it('when a contact is created, patched and linked to a lead, then the lead lists it as main contact and the contact lists the lead', async () => {
      const created = await api('POST', '/api/v4/contacts', [{ first_name: 'Вера', custom_fields_values: [{ field_code: 'EMAIL', values: [{ value: 'vera@example.ru', enum_code: 'PRIV' }] }] }]);
      expect(created.status).to.equal(200);
      const contactId = created.json._embedded.contacts[0].id;
      const patched = await api('PATCH', `/api/v4/contacts/${contactId}`, { last_name: 'Ильина' });
      expect(patched.json).to.include({ id: contactId, name: 'Вера Ильина' });

      const leadId = (await api('POST', '/api/v4/leads', [{ name: 'Связь' }])).json._embedded.leads[0].id;
      const linked = await api('POST', `/api/v4/leads/${leadId}/link`, [{ to_entity_id: contactId, to_entity_type: 'contacts', metadata: { is_main: true } }]);
      expect(linked.status).to.equal(200);
      expect(linked.json._embedded.links).to.deep.equal([{ entity_id: leadId, entity_type: 'leads', to_entity_id: contactId, to_entity_type: 'contacts', metadata: { is_main: true } }]);
      expect((await api('GET', `/api/v4/leads/${leadId}?with=contacts`)).json._embedded.contacts[0]).to.include({ id: contactId, is_main: true });
      const contact = await api('GET', `/api/v4/contacts/${contactId}?with=leads`);
      expect(contact.json._embedded.leads.map((l: { id: number }) => l.id)).to.deep.equal([leadId]);
      expect(contact.json.custom_fields_values[0].values[0]).to.include({ value: 'vera@example.ru', enum_code: 'PRIV' });

      const badLink = await api('POST', `/api/v4/leads/${leadId}/link`, [{ to_entity_id: 1, to_entity_type: 'contacts' }]);
      expect(badLink.json['validation-errors'][0].errors[0]).to.include({ code: 'NotSupportedChoice', path: 'to_entity_id' });
      expect((await api('GET', '/api/v4/contacts/1')).status).to.equal(204);
    });

    it('when a contact is created with an EMAIL by field_name only, then 400 like on leads', async () => {
      const res = await api('POST', '/api/v4/contacts', [{ first_name: 'Нет', custom_fields_values: [{ field_name: 'Email', values: [{ value: 'no@example.ru' }] }] }]);
      expect(res.status).to.equal(400);
      expect(res.json['validation-errors'][0].errors[0]).to.include({ code: '36b4f074-7403-11ea-af30-00163e2085ae', path: 'custom_fields_values.0' });
    });
  });

  describe('POST/GET /api/v4/leads/{id}/notes and POST /api/v4/leads/notes', () => {
    it('when notes are added both ways, then the lead lists them and a lead without notes answers 204', async () => {
      const [first, second] = (await api('POST', '/api/v4/leads', [{ name: 'С заметками' }, { name: 'Без' }])).json._embedded.leads.map((l: { id: number }) => l.id);
      const one = await api('POST', `/api/v4/leads/${first}/notes`, [{ note_type: 'common', params: { text: 'Заказ #77 оплачен' } }]);
      expect(one.json._embedded.notes[0]).to.include({ entity_id: first, request_id: '0' });
      const two = await api('POST', '/api/v4/leads/notes', [{ entity_id: first, note_type: 'service_message', params: { service: 'Сайт', text: 'Смена адреса' } }]);
      expect(two.status).to.equal(200);
      const listed = await api('GET', `/api/v4/leads/${first}/notes`);
      expect(listed.json._embedded.notes.map((n: { note_type: string; params: { text: string } }) => [n.note_type, n.params.text]))
        .to.deep.equal([['common', 'Заказ #77 оплачен'], ['service_message', 'Смена адреса']]);
      expect((await api('GET', `/api/v4/leads/${second}/notes`)).status).to.equal(204);
      const bad = await api('POST', '/api/v4/leads/notes', [{ entity_id: 1, note_type: 'telepathy' }]);
      expect(bad.json['validation-errors'][0].errors.map((e: { path: string }) => e.path)).to.deep.equal(['entity_id', 'note_type']);
    });
  });

  describe('GET /oauth2/account/current/subdomain', () => {
    it('when asked with a live refresh token, then the account host comes back; with an unknown one, 401', async () => {
      const code = sim.controls.issueAuthorizationCode();
      const pair = (await call(`${base}/oauth2/access_token`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ client_id: SIMULATOR_DEFAULTS.clientId, client_secret: SIMULATOR_DEFAULTS.clientSecret, redirect_uri: SIMULATOR_DEFAULTS.redirectUri, grant_type: 'authorization_code', code }),
      })).json;
      const found = await call(`${base}/oauth2/account/current/subdomain`, { headers: { 'X-Refresh-Token': pair.refresh_token } });
      expect(found.json).to.include({ id: SIMULATOR_DEFAULTS.accountId, subdomain: SIMULATOR_DEFAULTS.subdomain });
      expect((await call(`${base}/oauth2/account/current/subdomain`, { headers: { 'X-Refresh-Token': 'def502' } })).status).to.equal(401);
    });
  });

  describe('/__simulator staff controls', () => {
    it('when a manager change and a replay are requested over HTTP, then the receiver gets both with the same request id', async () => {
      const bodies: { id: string; body: string }[] = [];
      const receiver: Server = createServer((req, res) => {
        let body = '';
        req.on('data', (c: Buffer) => { body += c.toString(); });
        req.on('end', () => { bodies.push({ id: String(req.headers['x-amocrm-requestid']), body }); res.end(); });
      });
      await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
      try {
        const destination = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
        await api('POST', '/api/v4/webhooks', { destination, settings: ['update_lead'] });
        const leadId = (await api('POST', '/api/v4/leads', [{ name: 'Менеджер' }])).json._embedded.leads[0].id;
        const delivery = (await control(`/leads/${leadId}/staff-change`, { custom_fields_values: [{ field_name: 'Адрес доставки', values: [{ value: 'Тверская 1' }] }] })).json;
        expect(delivery).to.have.length(1);
        expect(delivery[0]).to.include({ event: 'update_lead', status: 200 });
        expect(new URLSearchParams(bodies[0]!.body).get('leads[update][0][custom_fields][0][values][0][value]')).to.equal('Тверская 1');
        const replay = await control('/webhook-deliveries/0/replay');
        expect(replay.json).to.include({ replayOf: 0, status: 200 });
        expect(bodies.map((b) => b.id)).to.deep.equal([delivery[0].requestId, delivery[0].requestId]);
        expect((await call(`${base}/__simulator/webhook-deliveries`)).json).to.have.length(2);
        const invalid = await control(`/leads/${leadId}/staff-change`, { status_id: 1 });
        expect(invalid.status).to.equal(400);
        expect((await control('/leads/1/staff-change', { price: 1 })).status).to.equal(400);
      } finally {
        receiver.closeAllConnections();
        await new Promise((resolve) => receiver.close(resolve));
      }
    });
  });
});
