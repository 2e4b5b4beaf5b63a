// The amoCRM simulator over HTTP, the way the integration and its tests talk to it: OAuth, auth, custom
// fields and their validation, leads (plain and complex), search, updates, rate limit, fault controls,
// webhooks to a real receiving server, and the event log.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { createAmoSimulator, SIMULATOR_DEFAULTS, type AmoSimulator } from '../../src/crm/simulator/simulator.js';
import { pageProblems } from '../helpers/pages.js';
import { waitFor } from '../helpers/wait.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the tests walk amoCRM's JSON answers freely
type Answer = { status: number; headers: Headers; text: string; json: any };

const START = Date.parse('2026-03-02T09:00:00Z');
const FIELD_IDENTITY_BODY = {
  'validation-errors': [{
    request_id: '0',
    errors: [{ code: '36b4f074-7403-11ea-af30-00163e2085ae', path: 'custom_fields_values.0', detail: 'You should use "field_id" or "field_code" to identify custom field.' }],
  }],
  title: 'Bad Request', type: 'https://httpstatus.es/400', status: 400, detail: 'Request validation failed',
};
const UNAUTHORIZED_BODY = { title: 'Unauthorized', type: 'https://httpstatus.es/401', status: 401, detail: 'Invalid user name or password' };

async function call(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, { redirect: 'manual', ...init });
  const text = await res.text();
  let json: unknown = null;
  if (text && /json/.test(res.headers.get('content-type') ?? '')) json = JSON.parse(text);
  return { status: res.status, headers: res.headers, text, json };
}

function decodeJwt(token: string): Record<string, unknown> {
  const parts = token.split('.');
  expect(parts).to.have.length(3);
  return JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** A webhook receiver on a free port that records what arrives; `answer` decides the reply. */
async function startReceiver(answer: (hit: Hit) => number | 'hang' = () => 200) {
  const hits: Hit[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      const hit = { method: req.method ?? '', headers: req.headers, body, form: new URLSearchParams(body) };
      hits.push(hit);
      const status = answer(hit);
      if (status !== 'hang') res.writeHead(status).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/webhooks/amocrm/secret-path`,
    hits,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
type Hit = { method: string; headers: IncomingHttpHeaders; body: string; form: URLSearchParams };

describe('amoCRM simulator', function () {
  this.timeout(10_000);
  let clock = START;
  let sim: AmoSimulator;
  let base: string;
  let token: string;

  const api = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => call(`${base}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const tokenCall = (body: Record<string, string>, form = false) => call(`${base}/oauth2/access_token`, {
    method: 'POST',
    headers: { 'Content-Type': form ? 'application/x-www-form-urlencoded' : 'application/json' },
    body: form ? new URLSearchParams(body).toString() : JSON.stringify(body),
  });
  const client = { client_id: SIMULATOR_DEFAULTS.clientId, client_secret: SIMULATOR_DEFAULTS.clientSecret, redirect_uri: SIMULATOR_DEFAULTS.redirectUri };
  const fieldId = (name: string) => sim.controls.customFields().find((f) => f.name === name)!.id;
  const enumId = (name: string, value: string) => sim.controls.customFields().find((f) => f.name === name)!.enums!.find((e) => e.value === value)!.id;
  let pipeline: { id: number; _embedded: { statuses: { id: number; name: string }[] } };
  const statusId = (name: string) => pipeline._embedded.statuses.find((s) => s.name === name)!.id;

  before(async () => {
    sim = createAmoSimulator({ seedLeadFields: true, rateLimitPerSecond: 1000, now: () => clock });
    ({ url: base } = await sim.listen());
  });
  after(() => sim.close());
  beforeEach(async () => {
    clock = START;
    sim.controls.reset({ tokens: true });
    token = sim.controls.issueLongLivedToken();
    pipeline = (await api('GET', '/api/v4/leads/pipelines')).json._embedded.pipelines[0];
  });

  describe('GET /oauth (consent page)', () => {
    it('when the user allows, then the browser goes to the redirect URI with a code, the state, the referer and the client id, and the code buys tokens', async () => {
      const page = await call(`${base}/oauth?client_id=${client.client_id}&state=st-123&mode=post_message`);
      expect(page.status).to.equal(200);
      expect(page.text).to.include('action="/oauth/allow"').and.include('action="/oauth/decline"').and.include('value="st-123"');
      expect(await pageProblems(page.text)).to.deep.equal([]);

      const allow = await call(`${base}/oauth/allow`, {
        method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ client_id: client.client_id, state: 'st-123', mode: 'post_message' }).toString(),
      });
      expect(allow.status).to.equal(302);
      const location = new URL(allow.headers.get('location')!);
      expect(`${location.origin}${location.pathname}`).to.equal(SIMULATOR_DEFAULTS.redirectUri);
      expect(location.searchParams.get('state')).to.equal('st-123');
      expect(location.searchParams.get('referer')).to.equal(new URL(base).host);
      expect(location.searchParams.get('client_id')).to.equal(client.client_id);

      const exchange = await tokenCall({ ...client, grant_type: 'authorization_code', code: location.searchParams.get('code')! });
      expect(exchange.status).to.equal(200);
      token = exchange.json.access_token;
      expect((await api('GET', '/api/v4/leads/pipelines')).status).to.equal(200);
    });

    it('when the user declines, then the redirect carries error=access_denied and the state; without a state none is added on allow', async () => {
      const form = (fields: Record<string, string>) => ({
        method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString(),
      });
      const decline = await call(`${base}/oauth/decline`, form({ client_id: client.client_id, state: 'st-9' }));
      const declined = new URL(decline.headers.get('location')!);
      expect(Object.fromEntries(declined.searchParams)).to.deep.equal({ error: 'access_denied', client_id: client.client_id, state: 'st-9' });

      const allow = await call(`${base}/oauth/allow`, form({ client_id: client.client_id }));
      const allowed = new URL(allow.headers.get('location')!);
      expect(allowed.searchParams.has('state')).to.equal(false);
      expect(allowed.searchParams.get('code')).to.match(/^def502/);
    });
  });

  describe('POST /oauth2/access_token', () => {
    it('when a code is exchanged, then a JWT access token (exp, account_id, api_domain) and an opaque refresh token come back, and the code is single use', async () => {
      const code = sim.controls.issueAuthorizationCode();
      const first = await tokenCall({ ...client, grant_type: 'authorization_code', code });
      expect(first.status).to.equal(200);
      expect(first.json).to.include({ token_type: 'Bearer', expires_in: 86400, server_time: Math.floor(START / 1000) });
      expect(first.json.refresh_token).to.match(/^def502[0-9a-f]{100,}$/);
      const claims = decodeJwt(first.json.access_token);
      expect(claims).to.include({ account_id: SIMULATOR_DEFAULTS.accountId, iat: Math.floor(START / 1000), exp: Math.floor(START / 1000) + 86400 });
      expect(claims.api_domain).to.equal(new URL(base).host);

      const again = await tokenCall({ ...client, grant_type: 'authorization_code', code });
      expect(again.status).to.equal(400);
      expect(again.headers.get('content-type')).to.match(/^application\/problem\+json/);
      expect(again.json).to.deep.equal({
        hint: 'Authorization code has been revoked', title: 'Некорректный запрос', type: 'https://developers.amocrm.ru/v3/errors/OAuthProblemJson',
        status: 400, detail: 'В запросе отсутствует ряд параметров или параметры невалидны',
      });
    });

    it('when the code is older than 20 minutes, then "Authorization code has expired"; a garbage code cannot be decrypted', async () => {
      const code = sim.controls.issueAuthorizationCode();
      clock += 20 * 60 * 1000 + 1000;
      const late = await tokenCall({ ...client, grant_type: 'authorization_code', code });
      expect([late.status, late.json.hint]).to.deep.equal([400, 'Authorization code has expired']);
      const garbage = await tokenCall({ ...client, grant_type: 'authorization_code', code: 'def502000123' });
      expect([garbage.status, garbage.json.hint]).to.deep.equal([400, 'Cannot decrypt the authorization code']);
    });

    it('when the client secret is wrong or the redirect URI differs, then 401 "Некорректный клиент"', async () => {
      const invalidClient = { title: 'Некорректный клиент', type: 'https://developers.amocrm.ru/v3/errors/OAuthProblemJson', status: 401, detail: 'Авторизация клиента не прошла' };
      const wrongSecret = await tokenCall({ ...client, client_secret: 'nope', grant_type: 'authorization_code', code: sim.controls.issueAuthorizationCode() });
      expect([wrongSecret.status, wrongSecret.json]).to.deep.equal([401, invalidClient]);
      const wrongRedirect = await tokenCall({ ...client, redirect_uri: 'http://localhost:3000/other', grant_type: 'authorization_code', code: sim.controls.issueAuthorizationCode() });
      expect([wrongRedirect.status, wrongRedirect.json]).to.deep.equal([401, invalidClient]);
    });

    it('when a refresh token is used (form-encoded), then a new pair with a new refresh token comes back, and the spent one is "revoked"', async () => {
      const pair = (await tokenCall({ ...client, grant_type: 'authorization_code', code: sim.controls.issueAuthorizationCode() })).json;
      clock += 60_000;
      const refreshed = await tokenCall({ ...client, grant_type: 'refresh_token', refresh_token: pair.refresh_token }, true);
      expect(refreshed.status).to.equal(200);
      expect(refreshed.json.refresh_token).to.match(/^def502/).and.not.equal(pair.refresh_token);
      expect(refreshed.json.access_token).not.to.equal(pair.access_token);

      const reused = await tokenCall({ ...client, grant_type: 'refresh_token', refresh_token: pair.refresh_token });
      expect(reused.status).to.equal(401);
      expect(reused.json).to.include({ hint: 'Token has been revoked', status: 401 });

      const next = await tokenCall({ ...client, grant_type: 'refresh_token', refresh_token: refreshed.json.refresh_token });
      expect(next.status).to.equal(200);
      sim.controls.revokeRefreshTokens();
      const revoked = await tokenCall({ ...client, grant_type: 'refresh_token', refresh_token: next.json.refresh_token });
      expect([revoked.status, revoked.json.hint]).to.deep.equal([401, 'Token has been revoked']);
    });
  });

  describe('authorization on /api/v4', () => {
    it('when there is no token, a garbage token, or an expired one, then 401 with the problem body', async () => {
      const none = await call(`${base}/api/v4/leads`);
      expect([none.status, none.json]).to.deep.equal([401, UNAUTHORIZED_BODY]);
      expect(none.headers.get('content-type')).to.match(/^application\/problem\+json/);
      expect(none.headers.get('x-request-id')).to.match(/^[0-9a-f]{32}$/);
      token = 'garbage';
      expect((await api('GET', '/api/v4/leads')).status).to.equal(401);

      token = (await tokenCall({ ...client, grant_type: 'authorization_code', code: sim.controls.issueAuthorizationCode() })).json.access_token;
      expect((await api('GET', '/api/v4/leads/pipelines')).status).to.equal(200);
      clock += 86400 * 1000;
      expect((await api('GET', '/api/v4/leads/pipelines')).json).to.deep.equal(UNAUTHORIZED_BODY);

      token = sim.controls.issueLongLivedToken(3600);
      expect((await api('GET', '/api/v4/leads/pipelines')).status).to.equal(200);
      sim.controls.expireAccessTokens();
      expect((await api('GET', '/api/v4/leads/pipelines')).status).to.equal(401);
    });

    it('when the account is unpaid or blocked, then every API call answers 402 problem+json or the nginx 403 page', async () => {
      sim.controls.setAccountState('payment_required');
      const unpaid = await api('GET', '/api/v4/leads');
      expect([unpaid.status, unpaid.json]).to.deep.equal([402, { title: 'Payment Required', type: 'https://httpstatus.es/402', status: 402, detail: 'Payment required' }]);
      sim.controls.setAccountState('blocked');
      const blocked = await api('POST', '/api/v4/leads', [{ name: 'x' }]);
      expect(blocked.status).to.equal(403);
      expect(blocked.headers.get('content-type')).to.match(/^text\/html/);
      expect(blocked.text).to.include('<title>403 Forbidden</title>').and.include('nginx');
      expect(sim.controls.leads()).to.have.length(0);
      sim.controls.setAccountState('ok');
      expect((await api('GET', '/api/v4/leads')).status).to.equal(204);
    });
  });

  describe('GET/POST /api/v4/leads/custom_fields', () => {
    it('when the shop fields are seeded, then the eight fields come back with their Russian names, types and enums, paged by limit', async () => {
      const all = await api('GET', '/api/v4/leads/custom_fields');
      expect(all.status).to.equal(200);
      expect(all.headers.get('content-type')).to.match(/^application\/hal\+json/);
      const fields = all.json._embedded.custom_fields as { name: string; type: string; enums: { value: string }[] | null }[];
      expect(fields.map((f) => [f.name, f.type])).to.deep.equal([
        ['Сумма счёта', 'numeric'], ['Выбор букета (категория)', 'select'], ['Адрес доставки', 'textarea'], ['Дата доставки', 'date'],
        ['Интервал поставки букетов', 'select'], ['Пожелания к букетам', 'textarea'], ['Email', 'text'], ['Реферальная ссылка', 'url'],
      ]);
      expect(fields[1]!.enums!.map((e) => e.value)).to.deep.equal(['Романтический', 'Сезонный', 'Люкс']);
      expect(fields[4]!.enums!.map((e) => e.value)).to.deep.equal(['1 раз в неделю', '1 раз в 2 недели', '1 раз в месяц']);

      const page1 = await api('GET', '/api/v4/leads/custom_fields?limit=5');
      expect(page1.json._embedded.custom_fields).to.have.length(5);
      const next = new URL(page1.json._links.next.href);
      const page2 = await api('GET', `${next.pathname}${next.search}`);
      expect(page2.json._embedded.custom_fields).to.have.length(3);
      expect(page2.json._links.next).to.equal(undefined);
      expect((await api('GET', '/api/v4/leads/custom_fields?limit=251')).status).to.equal(422);
    });

    it('when fields are created, then they get ids and appear in the list; an account without lead fields answers 204', async () => {
      const bare = createAmoSimulator({ rateLimitPerSecond: 1000 });
      const { url } = await bare.listen();
      try {
        const bareToken = bare.controls.issueLongLivedToken();
        const headers = { Authorization: `Bearer ${bareToken}`, 'Content-Type': 'application/json' };
        expect((await call(`${url}/api/v4/leads/custom_fields`, { headers })).status).to.equal(204);
        const created = await call(`${url}/api/v4/leads/custom_fields`, {
          method: 'POST', headers,
          body: JSON.stringify([{ name: 'Диета', type: 'select', sort: 510, enums: [{ value: 'Веган', sort: 1 }, { value: 'Кето', sort: 2 }] }, { name: 'Сайт', type: 'url' }]),
        });
        expect(created.status).to.equal(200);
        const [diet, site] = created.json._embedded.custom_fields;
        expect(diet).to.include({ name: 'Диета', type: 'select', sort: 510 });
        expect(diet.enums.map((e: { value: string }) => e.value)).to.deep.equal(['Веган', 'Кето']);
        expect(site.id).to.be.a('number').and.not.equal(diet.id);
        expect((await call(`${url}/api/v4/leads/custom_fields`, { headers })).json._embedded.custom_fields).to.have.length(2);
        const wrongType = await call(`${url}/api/v4/leads/custom_fields`, { method: 'POST', headers, body: JSON.stringify([{ name: 'X', type: 'hologram' }]) });
        expect(wrongType.json['validation-errors'][0].errors).to.deep.equal([{ code: 'NotSupportedChoice', path: 'type', detail: 'The value you selected is not a valid choice.' }]);
      } finally {
        await bare.close();
      }
    });
  });

  describe('POST /api/v4/leads (validation)', () => {
    it('when a custom field is identified only by field_name, then 400 with amoCRM\'s exact body and nothing is created', async () => {
      const res = await api('POST', '/api/v4/leads', [{ name: 'Заказ', custom_fields_values: [{ field_id: null, field_name: 'Email', values: [{ value: 'a@b.ru' }] }] }]);
      expect(res.status).to.equal(400);
      expect(res.headers.get('content-type')).to.match(/^application\/problem\+json/);
      expect(res.json).to.deep.equal(FIELD_IDENTITY_BODY);
      expect(sim.controls.leads()).to.deep.equal([]);
    });

    it('when a field_id is unknown, then NotSupportedChoice at custom_fields_values.N.field_id', async () => {
      const res = await api('POST', '/api/v4/leads', [{ custom_fields_values: [{ field_id: fieldId('Email'), values: [{ value: 'a@b.ru' }] }, { field_id: 999, values: [{ value: 'x' }] }] }]);
      expect(res.status).to.equal(400);
      expect(res.json['validation-errors']).to.deep.equal([{
        request_id: '0', errors: [{ code: 'NotSupportedChoice', path: 'custom_fields_values.1.field_id', detail: 'The value you selected is not a valid choice.' }],
      }]);
    });

    it('when a select value or enum_id is not one of the field\'s enums, then 400 at the value path', async () => {
      const category = fieldId('Выбор букета (категория)');
      const byValue = await api('POST', '/api/v4/leads', [{ custom_fields_values: [{ field_id: category, values: [{ value: 'Гигантский' }] }] }]);
      expect(byValue.status).to.equal(400);
      expect(byValue.json['validation-errors'][0].errors[0]).to.include({ code: 'NotSupportedChoice', path: 'custom_fields_values.0.values.0.value' });
      const byEnum = await api('POST', '/api/v4/leads', [{ custom_fields_values: [{ field_id: category, values: [{ enum_id: enumId('Интервал поставки букетов', '1 раз в месяц') }] }] }]);
      expect(byEnum.status).to.equal(400);
      expect(byEnum.json['validation-errors'][0].errors[0]).to.include({ path: 'custom_fields_values.0.values.0.enum_id' });
    });

    it('when a date is not a unix time or RFC-3339, a numeric field gets text, price is a string and the status is unknown, then every error is listed per lead', async () => {
      const res = await api('POST', '/api/v4/leads', [
        { request_id: 'a', custom_fields_values: [{ field_id: fieldId('Дата доставки'), values: [{ value: '05.03.2026' }] }] },
        { request_id: 'b', price: '4500', status_id: 1234, custom_fields_values: [{ field_id: fieldId('Сумма счёта'), values: [{ value: 'много' }] }] },
        { request_id: 'c', name: 42 },
      ]);
      expect(res.status).to.equal(400);
      expect(res.json['validation-errors']).to.deep.equal([
        { request_id: 'a', errors: [{ code: 'InvalidType', path: 'custom_fields_values.0.values.0.value', detail: 'This value should be of type int.' }] },
        { request_id: 'b', errors: [
          { code: 'InvalidType', path: 'price', detail: 'This value should be of type int.' },
          { code: 'NotSupportedChoice', path: 'status_id', detail: 'The value you selected is not a valid choice.' },
          { code: 'InvalidType', path: 'custom_fields_values.0.values.0.value', detail: 'This value should be of type numeric.' },
        ] },
        { request_id: 'c', errors: [{ code: 'InvalidType', path: 'name', detail: 'This value should be of type string.' }] },
      ]);
    });

    it('when the body is empty, then "Request data can not be empty"', async () => {
      for (const body of [undefined, [], {}]) {
        const res = await api('POST', '/api/v4/leads', body);
        expect([res.status, res.json]).to.deep.equal([400, { title: 'Bad Request', type: 'https://httpstatus.es/400', status: 400, detail: 'Request data can not be empty' }]);
      }
    });
  });

  describe('POST /api/v4/leads and GET /api/v4/leads/{id}', () => {
    it('when valid leads are posted (field_name beside field_id tolerated, RFC-3339 date), then ids and request_ids come back and the lead reads back like amoCRM', async () => {
      const res = await api('POST', '/api/v4/leads', [{
        name: 'Подписка anna@example.ru', price: 4500, request_id: 'signup-1',
        custom_fields_values: [
          { field_id: fieldId('Email'), field_name: 'Email', values: [{ value: 'anna@example.ru' }] },
          { field_id: fieldId('Выбор букета (категория)'), values: [{ value: 'Сезонный' }] },
          { field_id: fieldId('Дата доставки'), values: [{ value: '2026-03-05T00:00:00+03:00' }] },
          { field_id: fieldId('Сумма счёта'), values: [{ value: 4500 }] },
        ],
      }]);
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.match(/^application\/hal\+json/);
      const [created] = res.json._embedded.leads;
      expect(created.request_id).to.equal('signup-1');
      expect(created._links.self.href).to.equal(`${base}/api/v4/leads/${created.id}`);

      const read = await api('GET', `/api/v4/leads/${created.id}`);
      expect(read.json).to.include({ id: created.id, name: 'Подписка anna@example.ru', price: 4500, pipeline_id: pipeline.id, status_id: statusId('Новая заявка') });
      expect(read.json.created_at).to.equal(Math.floor(START / 1000));
      expect(read.json.custom_fields_values).to.deep.include({
        field_id: fieldId('Выбор букета (категория)'), field_name: 'Выбор букета (категория)', field_code: null, field_type: 'select',
        values: [{ value: 'Сезонный', enum_id: enumId('Выбор букета (категория)', 'Сезонный'), enum_code: null }],
      });
      expect(read.json.custom_fields_values).to.deep.include({
        field_id: fieldId('Дата доставки'), field_name: 'Дата доставки', field_code: null, field_type: 'date', values: [{ value: Date.parse('2026-03-05T00:00:00+03:00') / 1000 }],
      });
      expect(read.json._embedded.contacts).to.equal(undefined);
    });

    it('when a single object is posted instead of an array, then it is taken as one lead; a missing id answers 204', async () => {
      const res = await api('POST', '/api/v4/leads', { name: 'Одна' });
      expect(res.json._embedded.leads[0].request_id).to.equal('0');
      const missing = await api('GET', '/api/v4/leads/1');
      expect([missing.status, missing.text]).to.deep.equal([204, '']);
    });
  });

  describe('POST /api/v4/leads/complex', () => {
    it('when a lead with a new contact (EMAIL by field_code, enum WORK) is posted, then one lead and one linked main contact exist', async () => {
      const res = await api('POST', '/api/v4/leads/complex', [{
        name: 'Подписка boris@example.ru', price: 5000,
        custom_fields_values: [{ field_id: fieldId('Email'), values: [{ value: 'boris@example.ru' }] }],
        _embedded: { contacts: [{ first_name: 'Борис', last_name: 'Петров', custom_fields_values: [{ field_code: 'EMAIL', values: [{ value: 'boris@example.ru', enum_code: 'WORK' }] }] }] },
      }]);
      expect(res.status).to.equal(200);
      expect(res.json).to.be.an('array').with.length(1);
      const [result] = res.json;
      expect(Object.keys(result).sort()).to.deep.equal(['company_id', 'contact_id', 'id', 'merged', 'request_id']);
      expect(result).to.include({ company_id: null, merged: false });
      expect(result.request_id).to.deep.equal(['0']);

      expect(sim.controls.leads()).to.have.length(1);
      expect(sim.controls.contacts()).to.have.length(1);
      const lead = await api('GET', `/api/v4/leads/${result.id}?with=contacts`);
      expect(lead.json._embedded.contacts).to.deep.equal([{ id: result.contact_id, is_main: true, _links: { self: { href: `${base}/api/v4/contacts/${result.contact_id}` } } }]);
      const contact = await api('GET', `/api/v4/contacts/${result.contact_id}`);
      expect(contact.json).to.include({ name: 'Борис Петров', first_name: 'Борис', last_name: 'Петров' });
      const email = contact.json.custom_fields_values.find((f: { field_code: string }) => f.field_code === 'EMAIL');
      expect(email).to.include({ field_type: 'multitext', field_name: 'Email' });
      expect(email.values).to.have.length(1);
      expect(email.values[0]).to.include({ value: 'boris@example.ru', enum_code: 'WORK' });
      expect(email.values[0].enum_id).to.be.a('number');

      const found = await api('GET', '/api/v4/contacts?query=boris@example');
      expect(found.json._embedded.contacts.map((c: { id: number }) => c.id)).to.deep.equal([result.contact_id]);
      expect((await api('GET', '/api/v4/contacts?query=nobody@example.ru')).status).to.equal(204);
    });

    it('when the new contact has an unknown EMAIL enum code, then 400 at the contact\'s path and nothing is created', async () => {
      const res = await api('POST', '/api/v4/leads/complex', [{
        _embedded: { contacts: [{ first_name: 'X', custom_fields_values: [{ field_code: 'EMAIL', values: [{ value: 'x@example.ru', enum_code: 'HOME' }] }] }] },
      }]);
      expect(res.status).to.equal(400);
      expect(res.json['validation-errors'][0].errors[0]).to.include({ code: 'NotSupportedChoice', path: '_embedded.contacts.0.custom_fields_values.0.values.0.enum_code' });
      expect(sim.controls.leads()).to.have.length(0);
      expect(sim.controls.contacts()).to.have.length(0);
    });
  });

  describe('GET /api/v4/leads', () => {
    it('when query= matches a custom field value, then that lead is found; no match answers 204 with an empty body', async () => {
      const referral = (uuid: string) => [{ field_id: fieldId('Реферальная ссылка'), values: [{ value: `https://flowers.example/r/${uuid}` }] }];
      await api('POST', '/api/v4/leads', [
        { name: 'Первая', custom_fields_values: referral('0b7c2a44-1111-4e9e-9d55-aaaaaaaaaaaa') },
        { name: 'Вторая', custom_fields_values: referral('5d1f8e90-2222-4e9e-9d55-bbbbbbbbbbbb') },
      ]);
      const hit = await api('GET', '/api/v4/leads?query=5d1f8e90-2222');
      expect(hit.status).to.equal(200);
      expect(hit.json._embedded.leads.map((l: { name: string }) => l.name)).to.deep.equal(['Вторая']);
      const miss = await api('GET', '/api/v4/leads?query=ffffffff-9999');
      expect([miss.status, miss.text, miss.headers.get('content-type')]).to.deep.equal([204, '', null]);
    });

    it('when asked by filter[id][] with with=contacts and a small limit, then the HAL page has _page, _links.next and the contacts', async () => {
      const created = await api('POST', '/api/v4/leads', [{ name: 'A' }, { name: 'B' }, { name: 'C' }]);
      const ids = created.json._embedded.leads.map((l: { id: number }) => l.id);
      const res = await api('GET', `/api/v4/leads?filter[id][]=${ids[0]}&filter[id][]=${ids[2]}&with=contacts&limit=1`);
      expect(res.json._page).to.equal(1);
      expect(res.json._embedded.leads.map((l: { id: number }) => l.id)).to.deep.equal([ids[0]]);
      expect(res.json._embedded.leads[0]._embedded.contacts).to.deep.equal([]);
      expect(res.json._links.next.href).to.include('page=2');
      const next = new URL(res.json._links.next.href);
      const page2 = await api('GET', `${next.pathname}${next.search}`);
      expect(page2.json._embedded.leads.map((l: { id: number }) => l.id)).to.deep.equal([ids[2]]);
      expect(page2.json._links.next).to.equal(undefined);
    });
  });

  describe('PATCH /api/v4/leads/{id} and PATCH /api/v4/leads', () => {
    it('when a lead is patched a minute later, then updated_at moves and filter[updated_at][from] finds only it', async () => {
      const created = await api('POST', '/api/v4/leads', [{ name: 'Старая' }, { name: 'Меняется' }]);
      const [untouched, changed] = created.json._embedded.leads.map((l: { id: number }) => l.id);
      clock += 60_000;
      const patched = await api('PATCH', `/api/v4/leads/${changed}`, {
        price: 9000, custom_fields_values: [{ field_id: fieldId('Адрес доставки'), values: [{ value: 'Москва, Тверская 1' }] }],
      });
      const from = Math.floor(START / 1000) + 30;
      expect(patched.status).to.equal(200);
      expect(patched.json).to.deep.equal({ id: changed, updated_at: from + 30, _links: { self: { href: `${base}/api/v4/leads/${changed}` } } });

      const recent = await api('GET', `/api/v4/leads?filter[updated_at][from]=${from}`);
      expect(recent.json._embedded.leads.map((l: { id: number }) => l.id)).to.deep.equal([changed]);
      expect(recent.json._embedded.leads[0].price).to.equal(9000);
      expect((await api('GET', `/api/v4/leads/${untouched}`)).json.updated_at).to.equal(Math.floor(START / 1000));

      const batch = await api('PATCH', '/api/v4/leads', [{ id: untouched, status_id: statusId('Пауза') }]);
      expect(batch.json._embedded.leads[0]).to.include({ id: untouched, updated_at: from + 30 });
      expect((await api('GET', `/api/v4/leads/${untouched}`)).json.status_id).to.equal(statusId('Пауза'));
      const unknown = await api('PATCH', '/api/v4/leads', [{ id: 1, name: 'x' }]);
      expect(unknown.json['validation-errors'][0].errors[0]).to.include({ code: 'NotSupportedChoice', path: 'id' });
    });
  });

  describe('rate limit', () => {
    it('when more than 7 requests arrive within one second, then the extra ones answer 429 with retry_after, and after waiting they pass again', async function () {
      this.timeout(5000);
      const limited = createAmoSimulator();
      const { url } = await limited.listen();
      try {
        const headers = { Authorization: `Bearer ${limited.controls.issueLongLivedToken()}` };
        const answers = await Promise.all(Array.from({ length: 9 }, () => call(`${url}/api/v4/leads/pipelines`, { headers })));
        const statuses = answers.map((a) => a.status).sort();
        expect(statuses).to.deep.equal([200, 200, 200, 200, 200, 200, 200, 429, 429]);
        const tooMany = answers.find((a) => a.status === 429)!;
        expect(tooMany.headers.get('content-type')).to.match(/^application\/problem\+json/);
        expect(tooMany.json).to.deep.equal({
          title: 'Too Many Requests', type: 'https://httpstatus.es/429', status: 429,
          detail: 'You have sent too many requests in a given amount of time. Please try again later.', retry_after: 1,
        });
        await new Promise((r) => setTimeout(r, tooMany.json.retry_after * 1000 + 50));
        expect((await call(`${url}/api/v4/leads/pipelines`, { headers })).status).to.equal(200);
      } finally {
        await limited.close();
      }
    });
  });

  describe('test controls', () => {
    it('when failNext(2, 503) is set, then the next two calls get the nginx 503 page and the third is processed; a 429 failure carries retry_after', async () => {
      sim.controls.failNext(2, 503);
      const first = await api('POST', '/api/v4/leads', [{ name: 'x' }]);
      const second = await api('GET', '/api/v4/leads');
      expect([first.status, second.status]).to.deep.equal([503, 503]);
      expect(first.headers.get('content-type')).to.match(/^text\/html/);
      expect(sim.controls.leads()).to.have.length(0);
      expect((await api('GET', '/api/v4/leads')).status).to.equal(204);

      sim.controls.failNext(1, 429);
      const limited = await api('GET', '/api/v4/leads');
      expect([limited.status, limited.json.retry_after]).to.deep.equal([429, 1]);
      sim.controls.failNext(1, 500, { title: 'custom', status: 500 });
      expect((await api('GET', '/api/v4/leads')).json).to.deep.equal({ title: 'custom', status: 500 });
    });

    it('when delay(300) is set, then responses take at least 300 ms until delay(0)', async () => {
      sim.controls.delay(300);
      let started = performance.now();
      await api('GET', '/api/v4/leads');
      expect(performance.now() - started).to.be.at.least(295);
      sim.controls.delay(0);
      started = performance.now();
      await api('GET', '/api/v4/leads');
      expect(performance.now() - started).to.be.below(200);
    });

    it('when requests arrive, then requests() lists method, path, query, body, authorization and the status answered', async () => {
      await api('POST', '/api/v4/leads?x=1', [{ name: 'Запись' }]);
      await call(`${base}/api/v4/leads`);
      const log = sim.controls.requests().filter((r) => r.path === '/api/v4/leads');
      expect(log).to.have.length(2);
      expect(log[0]).to.deep.equal({ at: START, method: 'POST', path: '/api/v4/leads', query: { x: '1' }, body: [{ name: 'Запись' }], authorization: `Bearer ${token}`, status: 200 });
      expect(log[1]).to.include({ method: 'GET', authorization: null, status: 401 });
    });

    it('when driven over HTTP under /__simulator, then the same controls work from another process', async () => {
      const post = (path: string, body: unknown) => call(`${base}/__simulator${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      expect((await post('/fail-next', { count: 1, status: 502 })).status).to.equal(204);
      expect((await api('GET', '/api/v4/leads')).status).to.equal(502);
      const { json: issued } = await post('/oauth/long-lived-token', {});
      token = issued.access_token;
      await api('POST', '/api/v4/leads', [{ name: 'Через HTTP' }]);
      const leads = await call(`${base}/__simulator/leads`);
      expect(leads.json.map((l: { name: string }) => l.name)).to.deep.equal(['Через HTTP']);
      expect((await post('/account-state', { state: 'blocked' })).status).to.equal(204);
      expect((await api('GET', '/api/v4/leads')).status).to.equal(403);
      expect((await post('/reset', {})).status).to.equal(204);
      expect((await api('GET', '/api/v4/leads')).status).to.equal(204);
      expect((await call(`${base}/__simulator/leads`)).json).to.deep.equal([]);
    });
  });

  describe('webhooks', () => {
    let receiver: Awaited<ReturnType<typeof startReceiver>>;
    afterEach(() => receiver?.close());

    it('when a manager moves a lead to another stage, then subscribers get a bracket-form POST with amoCRM\'s headers, and the delivery is recorded', async () => {
      receiver = await startReceiver();
      const subscribed = await api('POST', '/api/v4/webhooks', { destination: receiver.url, settings: ['status_lead'] });
      expect(subscribed.json).to.include({ destination: receiver.url, disabled: false, account_id: SIMULATOR_DEFAULTS.accountId });
      const created = await api('POST', '/api/v4/leads', [{
        name: 'Подписка', price: 4500,
        custom_fields_values: [
          { field_id: fieldId('Дата доставки'), values: [{ value: 1772668800 }] },
          { field_id: fieldId('Выбор букета (категория)'), values: [{ value: 'Люкс' }] },
        ],
      }]);
      const id = created.json._embedded.leads[0].id;
      await sim.controls.webhooksSettled();
      expect(receiver.hits).to.have.length(0); // add_lead is not subscribed

      clock += 5000;
      const deliveries = await sim.controls.staffChangeLead(id, { status_id: statusId('Подписка активна'), price: 9000 });
      expect(deliveries).to.have.length(1);
      expect(deliveries[0]).to.include({ event: 'status_lead', status: 200, ok: true, destination: receiver.url });
      expect(deliveries[0]!.durationMs).to.be.a('number').and.below(2000);

      const [hit] = receiver.hits;
      expect(hit!.headers['user-agent']).to.equal('amoCRM-Webhooks/3.0');
      expect(hit!.headers['content-type']).to.equal('application/x-www-form-urlencoded');
      expect(hit!.headers['x-amocrm-requestid']).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(hit!.body).to.include('leads%5Bstatus%5D%5B0%5D%5Bid%5D=');
      const form = hit!.form;
      expect(form.get('account[subdomain]')).to.equal(SIMULATOR_DEFAULTS.subdomain);
      expect(form.get('account[id]')).to.equal(String(SIMULATOR_DEFAULTS.accountId));
      expect(form.get('leads[status][0][id]')).to.equal(String(id));
      expect(form.get('leads[status][0][status_id]')).to.equal(String(statusId('Подписка активна')));
      expect(form.get('leads[status][0][old_status_id]')).to.equal(String(statusId('Новая заявка')));
      expect(form.get('leads[status][0][pipeline_id]')).to.equal(String(pipeline.id));
      expect(form.get('leads[status][0][price]')).to.equal('9000');
      expect(form.get('leads[status][0][last_modified]')).to.equal(String(Math.floor(START / 1000) + 5));
      const fields = new Map<string, number>();
      for (const [key, value] of form) {
        const m = /^leads\[status\]\[0\]\[custom_fields\]\[(\d+)\]\[name\]$/.exec(key);
        if (m) fields.set(value, Number(m[1]));
      }
      const date = fields.get('Дата доставки')!;
      const category = fields.get('Выбор букета (категория)')!;
      expect(form.get(`leads[status][0][custom_fields][${date}][id]`)).to.equal(String(fieldId('Дата доставки')));
      expect(form.get(`leads[status][0][custom_fields][${date}][values][0]`)).to.equal('1772668800');
      expect(form.get(`leads[status][0][custom_fields][${category}][values][0][value]`)).to.equal('Люкс');
      expect(form.get(`leads[status][0][custom_fields][${category}][values][0][enum]`)).to.equal(String(enumId('Выбор букета (категория)', 'Люкс')));

      expect(sim.controls.webhookDeliveries()).to.have.length(1);
      const replayed = await sim.controls.replayWebhook(0);
      expect(replayed).to.include({ status: 200, replayOf: 0, requestId: deliveries[0]!.requestId });
      expect(receiver.hits[1]!.body).to.equal(hit!.body);
    });

    it('when the integration itself patches a lead, then update_lead fires too (the echo); after DELETE nothing more is sent', async () => {
      receiver = await startReceiver();
      await api('POST', '/api/v4/webhooks', { destination: receiver.url, settings: ['add_lead', 'update_lead'] });
      const listed = await api('GET', '/api/v4/webhooks');
      expect(listed.json._embedded.webhooks.map((w: { settings: string[] }) => w.settings)).to.deep.equal([['add_lead', 'update_lead']]);
      const id = (await api('POST', '/api/v4/leads', [{ name: 'Эхо' }])).json._embedded.leads[0].id;
      await api('PATCH', `/api/v4/leads/${id}`, { price: 100 });
      await waitFor(() => receiver.hits.length === 2, 3000, 'two webhook deliveries');
      const added = receiver.hits.find((h) => h.form.has('leads[add][0][id]'))!.form;
      const updated = receiver.hits.find((h) => h.form.has('leads[update][0][id]'))!.form;
      expect(added.get('leads[add][0][id]')).to.equal(String(id));
      expect(updated.get('leads[update][0][price]')).to.equal('100');
      expect(updated.get('leads[update][0][modified_user_id]')).to.equal(added.get('leads[add][0][created_user_id]'));

      const removed = await api('DELETE', '/api/v4/webhooks', { destination: receiver.url });
      expect([removed.status, removed.text]).to.deep.equal([204, '']);
      await sim.controls.staffChangeLead(id, { price: 200 });
      expect(receiver.hits).to.have.length(2);
      expect((await api('GET', '/api/v4/webhooks')).status).to.equal(204);
    });

    it('when the receiver does not answer within 2 seconds, then the delivery is recorded as failed without a status', async function () {
      this.timeout(6000);
      receiver = await startReceiver(() => 'hang');
      await api('POST', '/api/v4/webhooks', { destination: receiver.url, settings: ['update_lead'] });
      const id = (await api('POST', '/api/v4/leads', [{ name: 'Тишина' }])).json._embedded.leads[0].id;
      const [delivery] = await sim.controls.staffChangeLead(id, { name: 'Тишина 2' });
      expect(delivery).to.include({ status: null, ok: false, pending: false });
      expect(delivery!.durationMs).to.be.within(1900, 2600);
      expect(delivery!.error).to.match(/2000 ms/);
    });
  });

  describe('GET /api/v4/events', () => {
    it('when leads were added and moved, then lead_added and lead_status_changed are listed with their values, filtered by type and time', async () => {
      const id = (await api('POST', '/api/v4/leads', [{ name: 'История' }])).json._embedded.leads[0].id;
      clock += 10_000;
      await sim.controls.staffChangeLead(id, { status_id: 142 });

      const moved = await api('GET', '/api/v4/events?filter[type]=lead_status_changed&filter[entity]=lead');
      expect(moved.status).to.equal(200);
      const [event] = moved.json._embedded.events;
      expect(moved.json._embedded.events).to.have.length(1);
      expect(event).to.include({ type: 'lead_status_changed', entity_id: id, entity_type: 'lead', created_at: Math.floor(START / 1000) + 10 });
      expect(event.value_before).to.deep.equal([{ lead_status: { id: statusId('Новая заявка'), pipeline_id: pipeline.id } }]);
      expect(event.value_after).to.deep.equal([{ lead_status: { id: 142, pipeline_id: pipeline.id } }]);
      expect((await api('GET', `/api/v4/leads/${id}`)).json.closed_at).to.equal(Math.floor(START / 1000) + 10);

      const both = await api('GET', '/api/v4/events?filter[type]=lead_added,lead_status_changed');
      expect(both.json._embedded.events.map((e: { type: string }) => e.type)).to.deep.equal(['lead_status_changed', 'lead_added']);
      const later = await api('GET', `/api/v4/events?filter[type][]=lead_status_changed&filter[created_at][from]=${Math.floor(START / 1000) + 11}`);
      expect([later.status, later.text]).to.deep.equal([204, '']);
    });
  });

  describe('a lead\'s notes and events, as the staff history reads them', () => {
    it('when a lead has notes, then GET /leads/{id}/notes pages them newest first on order[id]=desc, and an empty list is a 204', async () => {
      const [a, b] = (await api('POST', '/api/v4/leads', [{ name: 'С примечаниями' }, { name: 'Другая' }])).json._embedded.leads.map((l: { id: number }) => l.id);
      const texts = Array.from({ length: 7 }, (_, i) => `Примечание ${i + 1}`);
      for (const text of texts) await api('POST', `/api/v4/leads/${a}/notes`, [{ note_type: 'common', params: { text } }]);
      await api('POST', `/api/v4/leads/${b}/notes`, [{ note_type: 'common', params: { text: 'Чужое' } }]);
      const first = await api('GET', `/api/v4/leads/${a}/notes?limit=5&order[id]=desc`);
      expect(first.json._embedded.notes.map((n: { params: { text: string } }) => n.params.text)).to.deep.equal(texts.slice(2).reverse());
      expect(first.json._links.next.href).to.include('page=2').and.include('order[id]=desc');
      const second = await api('GET', new URL(first.json._links.next.href).pathname + new URL(first.json._links.next.href).search);
      expect(second.json._embedded.notes.map((n: { params: { text: string } }) => n.params.text)).to.deep.equal(['Примечание 2', 'Примечание 1']);
      expect(second.json._links.next).to.equal(undefined);
      const ascending = await api('GET', `/api/v4/leads/${a}/notes?limit=2`);
      expect(ascending.json._embedded.notes.map((n: { params: { text: string } }) => n.params.text)).to.deep.equal(['Примечание 1', 'Примечание 2']);
      const none = (await api('POST', '/api/v4/leads', [{ name: 'Пустая' }])).json._embedded.leads[0].id;
      const empty = await api('GET', `/api/v4/leads/${none}/notes?order[id]=desc`);
      expect([empty.status, empty.text]).to.deep.equal([204, '']);
    });

    it('when a manager adds a note or a call, then it is the manager\'s, and the event log records it with the note\'s id, filtered by the lead', async () => {
      const [a, b] = (await api('POST', '/api/v4/leads', [{ name: 'Звонки' }, { name: 'Чужая' }])).json._embedded.leads.map((l: { id: number }) => l.id);
      clock += 60_000;
      const call = sim.controls.staffAddNote(a, { note_type: 'call_in', params: { phone: '+79990000000', duration: 95, source: 'Телефония', uniq: 'c1', link: '' } });
      const note = sim.controls.staffAddNote(b, { note_type: 'common', params: { text: 'Не этой сделки' } });
      expect(call).to.include({ entity_id: a, note_type: 'call_in', created_by: 5550102 });
      const events = await api('GET', `/api/v4/events?filter[entity][]=lead&filter[entity_id][]=${a}&limit=2`);
      expect(events.json._embedded.events.map((e: { type: string }) => e.type)).to.deep.equal(['incoming_call', 'lead_added']);
      expect(events.json._embedded.events[0]).to.include({ entity_id: a, created_by: 5550102, created_at: Math.floor(START / 1000) + 60 });
      expect(events.json._embedded.events[0].value_after).to.deep.equal([{ note: { id: call.id } }]);
      const other = await api('GET', `/api/v4/events?filter[entity]=lead&filter[entity_id]=${b}&filter[type]=common_note_added`);
      expect(other.json._embedded.events.map((e: { value_after: unknown }) => e.value_after)).to.deep.equal([[{ note: { id: note.id } }]]);
      const tooMany = await api('GET', `/api/v4/events?limit=101`);
      expect(tooMany.status).to.equal(422);
    });

    it('when a manager\'s note is added over HTTP under /__simulator, then it is the same control; an unknown lead is a 400', async () => {
      const id = (await api('POST', '/api/v4/leads', [{ name: 'По HTTP' }])).json._embedded.leads[0].id;
      const post = (lead: number, body: unknown) => call(`${base}/__simulator/leads/${lead}/staff-note`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      const added = await post(id, { note_type: 'sms_in', params: { text: 'Спасибо!', phone: '+79990000000' } });
      expect(added.status).to.equal(200);
      expect(added.json).to.include({ entity_id: id, note_type: 'sms_in', created_by: 5550102 });
      expect((await post(999, { note_type: 'common', params: { text: 'x' } })).status).to.equal(400);
      expect((await post(id, { note_type: 'common' })).status).to.equal(400);
      expect(sim.controls.notes().map((n) => n.params)).to.deep.equal([{ text: 'Спасибо!', phone: '+79990000000' }]);
    });

    it('when the users are listed, then each has an id and a name', async () => {
      const users = await api('GET', '/api/v4/users');
      expect(users.status).to.equal(200);
      expect(users.json._embedded.users.map((u: { id: number; name: string }) => [u.id, u.name])).to.deep.equal([[5550101, 'Администратор'], [5550102, 'Менеджер']]);
    });
  });

  describe('unknown routes and methods', () => {
    it('when the path is unknown, then 404 problem+json; when the method is wrong, then 405', async () => {
      const unknown = await api('GET', '/api/v4/spaceships');
      expect(unknown.status).to.equal(404);
      expect(unknown.json).to.include({ title: 'Not Found', status: 404, detail: `Cannot GET ${base}/api/v4/spaceships` });
      const wrong = await api('DELETE', '/api/v4/leads');
      expect(wrong.status).to.equal(405);
      expect(wrong.headers.get('content-type')).to.match(/^application\/problem\+json/);
      expect(wrong.headers.get('allow')).to.equal('GET, POST, PATCH');
    });
  });
});
