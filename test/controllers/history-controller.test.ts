// GET /account/history and the «История» section of /account: only for the logged-in customer, newest first,
// 50 entries a page, every text escaped.
import { expect } from 'chai';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { client, signUp } from '../helpers/client.js';
import { staffAgent } from '../staff/helpers.js';

describe('the customer\'s history (GET /account/history, «История» on /account)', () => {
  let t: TestApp;
  before(() => { t = createTestApp(); });
  after(() => t.close());

  async function customer() {
    const agent = client(t.app);
    const { email } = await signUp(agent);
    const user = await t.db('users').whereRaw('lower(email) = ?', [email.toLowerCase()]).first('id', 'created_at');
    return { agent, id: Number(user.id), createdAt: user.created_at as Date };
  }

  /** Stage rows `minutes` after the sign-up, as the sync would have recorded them. */
  async function stages(userId: number, names: string[], from: Date) {
    await t.db('lead_stage_changes').insert(names.map((name, i) => ({
      user_id: userId, status_id: 1000 + i, pipeline_id: 1, stage_name: name, changed_at: new Date(from.getTime() + (i + 1) * 60_000), source: 'amocrm',
    })));
  }

  const items = (html: string) => [...html.matchAll(/<li><time datetime="([^"]+)">[^<]+<\/time> ([^<]*)<\/li>/g)].map((m) => ({ at: m[1]!, text: m[2]! }));

  it('sends a visitor to log in and back (S22)', async () => {
    const res = await client(t.app).get('/account/history').expect(303);
    expect(res.headers.location).to.equal('/login?next=%2Faccount%2Fhistory');
  });

  it('shows the customer\'s entries, newest first, each with its moment in <time datetime>; never cached', async () => {
    const c = await customer();
    await stages(c.id, ['Новая заявка', 'Доставка запланирована'], c.createdAt);
    const res = await c.agent.get('/account/history').expect(200);
    expect(res.headers['cache-control']).to.equal('no-store');
    expect(res.text).to.include('<h1>История</h1>').and.include('<ol class="history">').and.include('href="/account"');
    const list = items(res.text);
    expect(list.map((e) => e.text)).to.deep.equal(['Статус заявки: Доставка запланирована', 'Статус заявки: Новая заявка', 'Заявка получена']);
    expect(list[2]!.at).to.equal(c.createdAt.toISOString());
    expect(res.text).not.to.include('rel="next"').and.not.include('rel="prev"');
  });

  it('escapes what comes from amoCRM (a stage name with markup)', async () => {
    const c = await customer();
    await stages(c.id, ['<script>alert(1)</script> <b>&</b> "Оплата"'], c.createdAt);
    for (const path of ['/account/history', '/account']) {
      const html = (await c.agent.get(path).expect(200)).text;
      expect(html, path).to.include('Статус заявки: &lt;script&gt;alert(1)&lt;/script&gt; &lt;b&gt;&amp;&lt;/b&gt; &quot;Оплата&quot;');
      expect(html, path).not.to.include('<script>').and.not.include('<b>&');
    }
  });

  it('the account page shows the newest five and links to the whole history', async () => {
    const c = await customer();
    await stages(c.id, ['Этап 1', 'Этап 2', 'Этап 3', 'Этап 4', 'Этап 5', 'Этап 6'], c.createdAt);
    const html = (await c.agent.get('/account').expect(200)).text;
    const section = /<section class="panel" aria-labelledby="history-title">[\s\S]*?<\/section>/.exec(html)![0];
    expect(items(section).map((e) => e.text)).to.deep.equal(['Этап 6', 'Этап 5', 'Этап 4', 'Этап 3', 'Этап 2'].map((s) => `Статус заявки: ${s}`));
    expect(section).to.include('<a href="/account/history">Вся история</a>');
  });

  it('pages by 50, newest first; a page beyond the last or a malformed one is a 404', async () => {
    const c = await customer();
    await stages(c.id, Array.from({ length: 60 }, (_, i) => `Этап ${i + 1}`), c.createdAt);
    const first = (await c.agent.get('/account/history').expect(200)).text;
    expect(items(first)).to.have.length(50);
    expect(items(first)[0]!.text).to.equal('Статус заявки: Этап 60');
    expect(first).to.include('<a href="/account/history?page=2" rel="next">Более ранние</a>').and.not.include('rel="prev"');
    const second = (await c.agent.get('/account/history?page=2').expect(200)).text;
    expect(items(second).map((e) => e.text)).to.deep.equal([
      ...Array.from({ length: 10 }, (_, i) => `Статус заявки: Этап ${10 - i}`), 'Заявка получена',
    ]);
    expect(second).to.include('<a href="/account/history" rel="prev">Более новые</a>').and.not.include('rel="next"');
    for (const page of ['3', '0', 'abc', '-1', '2.5', '9999999']) await c.agent.get(`/account/history?page=${page}`).expect(404);
    await c.agent.get('/account/history?page=1&page=2').expect(404);
  });

  it('never shows another customer\'s entries', async () => {
    const a = await customer();
    const b = await customer();
    await stages(a.id, ['Только для А'], a.createdAt);
    const html = (await b.agent.get('/account/history').expect(200)).text;
    expect(items(html).map((e) => e.text)).to.deep.equal(['Заявка получена']);
    expect(html).not.to.include('Только для А');
  });

  it('speaks English when the customer does', async () => {
    const c = await customer();
    const html = (await c.agent.get('/account/history?lang=en').expect(200)).text;
    expect(html).to.include('<h1>History</h1>').and.include('Request received');
  });

  it('sends staff to their own pages', async () => {
    const { agent } = await staffAgent(t);
    expect((await agent.get('/account/history').expect(303)).headers.location).to.equal('/staff');
  });
});
