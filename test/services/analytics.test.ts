// Analytics from the server: what goes to Yandex Metrica's and GA4's measurement protocols (exactly), only with the
// analytics consent, once per event, and never a customer's personal data. Against a recording collector over HTTP.
import { expect } from 'chai';
import { pino } from 'pino';
import { createServices } from '../../src/app.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { client, signUp, submit, daysFromToday, type Agent } from '../helpers/client.js';
import { startCollector, type Collector } from '../helpers/collector.js';
import { waitFor } from '../helpers/wait.js';

const TOKEN = 'mp-token-0123456789';
const SECRET = 'ga4-api-secret-abc';

describe('analytics: events to Yandex Metrica and GA4 from the server', function () {
  this.timeout(60_000);
  let collector: Collector;
  let t: TestApp;
  let services: ReturnType<typeof createServices>;

  before(async () => {
    collector = await startCollector();
    t = createTestApp({
      env: {
        METRICA_COUNTER_ID: '12345678', METRICA_MP_TOKEN: TOKEN, METRICA_ENDPOINT: `${collector.url}/collect`,
        GA4_MEASUREMENT_ID: 'G-TEST1234', GA4_API_SECRET: SECRET, GA4_ENDPOINT: collector.url,
      },
    });
    services = createServices({ config: t.config, db: t.db, logger: pino({ level: 'silent' }) });
  });
  after(async () => {
    await t.close();
    await collector.close();
  });
  beforeEach(() => { collector.requests.length = 0; });

  const userIdOf = async (email: string) => Number((await t.db('users').whereRaw('lower(email) = ?', [email.toLowerCase()]).first('id')).id);
  const eventsOf = (userId: number) => t.db('analytics_events').where({ user_id: userId }).orderBy('id').select('id', 'event', 'entity', 'value_kopecks');

  /** A visitor who arrived from a Yandex Direct ad, then signed up (ticking the analytics box unless told not to). */
  async function adVisitor(consent = true, yclid = '7391847123'): Promise<{ agent: Agent; email: string; id: number; fields: Record<string, string> }> {
    const agent = client(t.app);
    await agent.get(`/?utm_source=yandex&utm_medium=cpc&utm_campaign=spring&yclid=${yclid}`).set('Referer', 'https://yandex.ru/search/?text=%D1%86%D0%B2%D0%B5%D1%82%D1%8B').expect(200);
    const { email, fields } = await signUp(agent, consent ? { consentAnalytics: 'yes' } : {});
    return { agent, email, id: await userIdOf(email), fields };
  }

  it('sends sign_up and subscription_start with exactly the documented parameters, and no personal data', async () => {
    const { id, email, fields } = await adVisitor();
    const events = await eventsOf(id);
    expect(events.map((e) => e.event)).to.deep.equal(['sign_up', 'subscription_start']);
    const { client_id: clientId } = await t.db('user_attribution').where({ user_id: id }).first('client_id');
    expect(clientId).to.match(/^\d{19}$/);

    for (const e of events) expect(await services.analytics.send(Number(e.id))).to.equal('sent');
    const metrica = collector.requests.filter((r) => r.path === '/collect');
    const ga4 = collector.requests.filter((r) => r.path === '/mp/collect');
    expect(metrica).to.have.length(4); // a page view opens the session, then the goal, for each event
    expect(ga4).to.have.length(2);

    const dl = 'http://127.0.0.1:3999/signup?utm_source=yandex&utm_medium=cpc&utm_campaign=spring&yclid=7391847123';
    const [pageview, goal, , startGoal] = metrica.map((r) => r.form);
    expect(Object.keys(pageview!).sort()).to.deep.equal(['cid', 'dl', 'dr', 'dt', 'et', 'ms', 't', 'tid']);
    expect(pageview).to.include({ tid: '12345678', cid: clientId, t: 'pageview', dl, dr: 'https://yandex.ru/', dt: 'sign_up', ms: TOKEN });
    expect(Object.keys(goal!).sort()).to.deep.equal(['cid', 'dl', 'ea', 'et', 'ms', 't', 'tid']);
    expect(goal).to.include({ tid: '12345678', cid: clientId, t: 'event', ea: 'sign_up', dl, ms: TOKEN });
    expect(Math.abs(Number(goal!.et) - Date.now() / 1000)).to.be.lessThan(120);
    expect(Object.keys(startGoal!).sort()).to.deep.equal(['cid', 'dl', 'ea', 'et', 'ms', 'params', 't', 'tid']);
    expect(startGoal).to.include({ ea: 'subscription_start' });
    expect(JSON.parse(startGoal!.params!)).to.deep.equal({ order_price: 5000, currency: 'RUB' });

    expect(ga4[0]!.query).to.deep.equal({ measurement_id: 'G-TEST1234', api_secret: SECRET });
    const body = ga4[0]!.json as { client_id: string; timestamp_micros: number; events: { name: string; params: Record<string, unknown> }[] };
    expect(Object.keys(body).sort()).to.deep.equal(['client_id', 'events', 'timestamp_micros']);
    expect(body.client_id).to.equal(clientId);
    expect(body.events).to.deep.equal([{ name: 'sign_up', params: { engagement_time_msec: 1, campaign_source: 'yandex', campaign_medium: 'cpc', campaign_name: 'spring' } }]);
    expect((ga4[1]!.json as typeof body).events).to.deep.equal([{
      name: 'subscription_start', params: { engagement_time_msec: 1, campaign_source: 'yandex', campaign_medium: 'cpc', campaign_name: 'spring', value: 5000, currency: 'RUB' },
    }]);

    // No request carries the email, the address, the name in it, the phone, the user id or the visitor's search.
    for (const r of collector.requests) {
      const text = decodeURIComponent(r.raw + JSON.stringify(r.query));
      for (const secret of [email, email.split('@')[0]!, fields.address!, fields.wishes!, 'search', 'text=']) {
        if (secret) expect(text, r.path).not.to.include(secret);
      }
      expect(text).not.to.match(/\+7\d{10}|@/);
      expect(Object.keys(r.form)).not.to.include.members(['uid', 'user_id', 'email']);
    }
  });

  it('sends nothing for a customer without the analytics consent', async () => {
    const { id } = await adVisitor(false);
    expect(await eventsOf(id)).to.deep.equal([]);
    await t.db.transaction((trx) => services.analytics.track(trx, id, 'subscription_pause', { entity: '2030-01-01' }));
    expect(await eventsOf(id)).to.deep.equal([]);
    const queued = await t.db.raw("select count(*)::int as n from graphile_worker.jobs where key like ?", [`analytics:${id}:%`]);
    expect(queued.rows[0].n).to.equal(0);
    expect(collector.requests).to.deep.equal([]);
  });

  it('a customer from before attribution was kept gets a client id when an event is tracked, and the event is sent', async () => {
    const { id } = await adVisitor();
    await t.db('analytics_events').where({ user_id: id }).delete();
    await t.db('user_attribution').where({ user_id: id }).delete();
    await t.db.transaction((trx) => services.analytics.track(trx, id, 'subscription_cancel', { entity: '2026-12-05T10:00:00.000Z' }));
    const [event] = await eventsOf(id);
    expect(event).to.include({ event: 'subscription_cancel', entity: '2026-12-05T10:00:00.000Z' });
    expect(await services.analytics.send(Number(event!.id))).to.equal('sent');
    const { client_id: clientId } = await t.db('user_attribution').where({ user_id: id }).first('client_id');
    const goal = collector.requests.find((r) => r.form.t === 'event')!;
    expect(goal.form).to.include({ cid: clientId, ea: 'subscription_cancel', dl: 'http://127.0.0.1:3999/account/cancel' });
    expect(goal.form.params).to.equal(undefined);
  });

  it('a consent withdrawn after an event was queued stops it: the job sends nothing', async () => {
    const { agent, id } = await adVisitor();
    const [event] = await eventsOf(id);
    expect((await submit(agent, '/account/privacy', { document: 'analytics', action: 'withdraw' })).status).to.equal(303);
    expect(await services.analytics.send(Number(event!.id))).to.equal('skipped');
    expect(collector.requests).to.deep.equal([]);
    // Given again, it is sent (the record waited; the job is retried or run again by the queue).
    expect((await submit(agent, '/account/privacy', { document: 'analytics', action: 'grant' })).status).to.equal(303);
    expect(await services.analytics.send(Number(event!.id))).to.equal('sent');
    expect(collector.requests.length).to.be.greaterThan(0);
  });

  it('a retried job sends only to the collector that did not answer; a third run sends nothing', async () => {
    const { id } = await adVisitor();
    const [event] = await eventsOf(id);
    collector.failPath('/mp/collect', 1);
    let failed: unknown;
    await services.analytics.send(Number(event!.id)).catch((e: unknown) => { failed = e; });
    expect(String(failed)).to.match(/collector unavailable.*ga4: HTTP 503/);
    expect(collector.requests.map((r) => r.form.t ?? 'ga4')).to.deep.equal(['pageview', 'event']); // Metrica answered
    collector.requests.length = 0;
    expect(await services.analytics.send(Number(event!.id))).to.equal('sent');
    expect(collector.requests.map((r) => r.path)).to.deep.equal(['/mp/collect']);
    collector.requests.length = 0;
    expect(await services.analytics.send(Number(event!.id))).to.equal('sent');
    expect(collector.requests).to.deep.equal([]);
  });

  it('GET /staff/conversions.csv lists yclid conversions of consenting customers for Metrica\'s offline upload; staff only', async () => {
    const consenting = await adVisitor(true, '5550001');
    const refusing = await adVisitor(false, '5550002');
    await consenting.agent.get('/staff/conversions.csv').expect(403);
    const { staffAgent } = await import('../staff/helpers.js');
    const { agent: staff } = await staffAgent(t);
    const res = await staff.get('/staff/conversions.csv').expect(200);
    expect(res.headers['content-type']).to.equal('text/csv; charset=utf-8');
    const lines = res.text.trimEnd().split('\r\n');
    expect(lines[0]).to.equal('Yclid,Target,DateTime,Price,Currency');
    const mine = lines.filter((l) => l.startsWith('5550001,'));
    const at = await t.db('analytics_events').where({ user_id: consenting.id }).orderBy('id').pluck('occurred_at');
    expect(mine).to.include.members([
      `5550001,sign_up,${Math.floor(at[0].getTime() / 1000)},,`,
      `5550001,subscription_start,${Math.floor(at[1].getTime() / 1000)},5000.00,RUB`,
    ]);
    expect(await eventsOf(refusing.id)).to.deep.equal([]);
    expect(res.text).not.to.include('5550002');
    // Withdrawn: the customer's conversions leave the export.
    await submit(consenting.agent, '/account/privacy', { document: 'analytics', action: 'withdraw' });
    const after = await staff.get('/staff/conversions.csv').expect(200);
    expect(after.text).not.to.include('5550001,');
  });
  it('goes through the job queue: the worker sends a confirmed order once, with its value', async () => {
    const { agent, id } = await adVisitor();
    await t.startWorker();
    await waitFor(async () => (await t.db('analytics_events').where({ user_id: id }).whereNotNull('ga4_done_at').whereNotNull('metrica_done_at')).length === 2, 15_000, 'sign-up events sent');
    collector.requests.length = 0;

    const form = await submit(agent, '/account/orders/new', { bouquet: 'luxe', deliveryDate: daysFromToday(3), address: 'ул. Заказная, 1', wishes: '' }, '/account/orders');
    expect(form.status).to.equal(303);
    const orderId = Number(/\/account\/orders\/(\d+)/.exec(String(form.headers.location))![1]);
    const page = await agent.get(`/account/orders/${orderId}`).expect(200);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.text)![1]!;
    await agent.post(`/account/orders/${orderId}/confirm`).type('form').send({ _csrf: csrf }).expect(303);
    // The same order tracked again (a repeated confirmation, another caller) is the same event: nothing more is queued.
    await t.db.transaction((trx) => services.analytics.track(trx, id, 'order_confirmed', { entity: orderId, valueKopecks: 1 }));

    await waitFor(async () => (await t.db('analytics_events').where({ user_id: id, event: 'order_confirmed' }).whereNotNull('ga4_done_at').whereNotNull('metrica_done_at')).length === 1, 15_000, 'order event sent');
    const rows = await t.db('analytics_events').where({ user_id: id, event: 'order_confirmed' }).select('entity', 'value_kopecks');
    expect(rows).to.deep.equal([{ entity: String(orderId), value_kopecks: 900_000 }]);
    await new Promise((r) => setTimeout(r, 600));
    const goals = collector.requests.filter((r) => r.form.t === 'event');
    expect(goals.map((g) => g.form.ea)).to.deep.equal(['order_confirmed']);
    expect(goals[0]!.form.dl).to.equal('http://127.0.0.1:3999/account/orders?utm_source=yandex&utm_medium=cpc&utm_campaign=spring&yclid=7391847123');
    expect(JSON.parse(goals[0]!.form.params!)).to.deep.equal({ order_price: 9000, currency: 'RUB' });
    expect(collector.requests.filter((r) => r.path === '/mp/collect')).to.have.length(1);
  });

  it('a pause and a cancellation on the account are recorded as subscription_pause and subscription_cancel, once each; without consent nothing', async () => {
    const { agent, id } = await adVisitor(true, '7391847999');
    expect((await submit(agent, '/account/pause', { until: daysFromToday(30) }, '/account/pause')).status).to.equal(303);
    expect((await submit(agent, '/account/cancel', { reason: 'quality', comment: '' }, '/account/cancel')).status).to.equal(303);
    expect((await eventsOf(id)).map((e) => e.event)).to.deep.equal(['sign_up', 'subscription_start', 'subscription_pause', 'subscription_cancel']);

    const other = await adVisitor(false, '7391847998');
    expect((await submit(other.agent, '/account/pause', { until: daysFromToday(30) }, '/account/pause')).status).to.equal(303);
    expect(await eventsOf(other.id)).to.deep.equal([]);
  });
});

describe('analytics not configured', () => {
  let t: TestApp;
  before(() => { t = createTestApp(); });
  after(() => t.close());

  it('asks for no analytics consent, records and queues nothing, but keeps the first touch with the account', async () => {
    const agent = client(t.app);
    await agent.get('/?utm_source=vk&gclid=abc123').expect(200);
    const form = await agent.get('/signup').expect(200);
    expect(form.text).not.to.include('consentAnalytics');
    const { email } = await signUp(agent);
    const { id } = await t.db('users').whereRaw('lower(email) = ?', [email]).first('id');
    expect(await t.db('analytics_events').where({ user_id: id })).to.deep.equal([]);
    const services = createServices({ config: t.config, db: t.db, logger: pino({ level: 'silent' }) });
    await t.db.transaction((trx) => services.analytics.track(trx, Number(id), 'subscription_cancel'));
    expect(await t.db('analytics_events').where({ user_id: id })).to.deep.equal([]);
    expect(await t.db('user_attribution').where({ user_id: id }).first('utm_source', 'gclid', 'yclid', 'landing_path'))
      .to.deep.equal({ utm_source: 'vk', gclid: 'abc123', yclid: null, landing_path: '/' });
  });
});
