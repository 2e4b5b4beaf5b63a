// The lead's history in amoCRM on the staff customer page (GET /staff/customers/:id, POST /staff/customers/:id/history):
// read by the job amocrm:lead-history from the simulator over HTTP (notes and events, paged, that lead only), kept
// with its time, shown without asking amoCRM, refreshed by «Обновить» with one job however often it is pressed.
import { expect } from 'chai';
import { csrfFrom, type Agent } from '../helpers/client.js';
import { crmWorld } from '../helpers/amocrm.js';
import { pageProblems } from '../helpers/pages.js';
import { waitFor } from '../helpers/wait.js';
import { insertCustomers, staffAgent } from '../staff/helpers.js';

const TASK = 'amocrm:lead-history';
const section = (html: string) => /<section class="panel" aria-labelledby="history-title">([\s\S]*?)<\/section>/.exec(html)?.[1] ?? '';
const lines = (html: string) => [...section(html).matchAll(/<li>([\s\S]*?)<\/li>/g)].map((m) => m[1]!.replace(/<small>([\s\S]*?)<\/small><br>/, '$1 | '));
const texts = (html: string) => lines(html).map((l) => l.split(' | ')[1]);

describe('the amoCRM lead history on the staff customer page', function () {
  this.timeout(60_000);
  let w: Awaited<ReturnType<typeof crmWorld>>;
  let staff: Agent;
  let staffEmail: string;

  // No worker at first: what the page queues stays in the queue to be counted.
  before(async () => {
    w = await crmWorld({ worker: false });
    ({ agent: staff, email: staffEmail } = await staffAgent(w.t));
  });
  after(() => w.close());

  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
  /**
   * The test's own requests to amoCRM (as another integration would make them): past the simulator's 7 a second it
   * waits and tries again, then leaves a second, so that the app's jobs start with the limit to themselves.
   */
  async function api(method: string, path: string, body?: unknown) {
    for (;;) {
      const res = await fetch(`${w.url}${path}`, {
        method, headers: { Authorization: `Bearer ${w.t.config.amocrm.longLivedToken}`, 'Content-Type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
      });
      if (res.status === 429) { await pause(1100); continue; }
      const json = res.status === 204 ? null : await res.json() as { _embedded: { leads: { id: number }[] } };
      await pause(1100);
      return json;
    }
  }
  /** A customer whose lead exists in amoCRM (made there directly, as the sync would have). */
  async function customerWithLead(name = 'Сделка') {
    const [id] = await insertCustomers(w.t.db, [{ deliveryDate: '2030-01-01', interval: 'weekly' }]);
    const leadId = (await api('POST', '/api/v4/leads', [{ name }]))!._embedded.leads[0]!.id;
    await w.t.db('users').where({ id }).update({ amo_lead_id: leadId });
    return { id: id!, leadId };
  }
  const jobs = async (id: number) => Number((await w.t.db.raw('select count(*)::int as n from graphile_worker._private_jobs where key = ?', [`amocrm:lead-history:${id}`])).rows[0].n);
  const cached = (id: number) => w.t.db('amocrm_lead_history').where({ user_id: id }).first();
  const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000);
  const page = async (id: number) => (await staff.get(`/staff/customers/${id}`).expect(200)).text;
  async function refreshed(id: number, since: Date | null) {
    return waitFor(async () => { const row = await cached(id); return row && (!since || row.fetched_at > since) ? row : null; }, 15_000, 'the history was read');
  }

  describe('before any job runs', () => {
    it('when the stored history is stale, then the page shows it with its time and «загружается», queues one job, and sends amoCRM nothing', async () => {
      const { id, leadId } = await customerWithLead();
      await w.t.db('amocrm_lead_history').insert({
        user_id: id, lead_id: leadId, fetched_at: minutesAgo(20),
        entries: JSON.stringify([{ kind: 'note', at: '2026-12-01T09:05:00Z', author: 'Менеджер', text: 'Перезвонить\nпосле обеда' }, { kind: 'event', at: '2026-12-01T09:00:00Z', text: 'Сделка создана' }]),
      });
      const sent = w.simulator.controls.requests().length;
      const first = await page(id);
      const second = await page(id);
      expect(w.simulator.controls.requests().length, 'requests to amoCRM while rendering').to.equal(sent);
      expect(lines(first)).to.deep.equal(['1 декабря 2026, 12:05 · Менеджер | Перезвонить\nпосле обеда', '1 декабря 2026, 12:00 | Сделка создана']);
      expect(section(first)).to.include('<h2 id="history-title">История в amoCRM</h2>').and.match(/обновлено \d+ \S+ \d{4}, \d\d:\d\d · загружается/);
      expect(section(second)).to.include('загружается').and.include(`action="/staff/customers/${id}/history"`);
      expect(await jobs(id)).to.equal(1);
      expect(await pageProblems(first, { budget: 10 * 1024 })).to.deep.equal([]);
    });

    it('when nothing is stored yet, then «ещё не загружено · загружается»; without a lead, the page says so, has no button and queues nothing', async () => {
      const { id } = await customerWithLead();
      const sent = w.simulator.controls.requests().length;
      expect(section(await page(id))).to.include('ещё не загружено · загружается').and.not.include('<li>');
      expect(await jobs(id)).to.equal(1);
      const [bare] = await insertCustomers(w.t.db, [{ deliveryDate: '2030-01-01', interval: 'weekly' }]);
      const html = section(await page(bare!));
      expect(html).to.include('Сделки в amoCRM у клиента ещё нет').and.not.include('<form');
      expect(await jobs(bare!)).to.equal(0);
      expect(w.simulator.controls.requests().length).to.equal(sent);
    });

    it('when «Обновить» is pressed twice, then one job is queued, each press is recorded, and the page says the history comes in a minute', async () => {
      const { id, leadId } = await customerWithLead();
      await w.t.db('amocrm_lead_history').insert({ user_id: id, lead_id: leadId, fetched_at: new Date(), entries: '[]' });
      const before = await page(id);
      expect(section(before)).to.include('В сделке ещё нет примечаний и событий.').and.not.include('загружается');
      expect(await jobs(id)).to.equal(0); // fresh: opening the page queued nothing
      for (let i = 0; i < 2; i++) {
        const res = await staff.post(`/staff/customers/${id}/history`).type('form').send({ _csrf: csrfFrom(before) }).expect(303);
        expect(res.headers.location).to.equal(`/staff/customers/${id}`);
      }
      expect(await jobs(id)).to.equal(1);
      const after = await page(id);
      expect(after).to.include('История обновится через минуту.');
      expect(section(after)).to.include('загружается');
      expect(await w.t.db('staff_actions').where({ action: 'customer.history_refresh', customer_id: id }).select('staff_email', 'outcome'))
        .to.deep.equal([{ staff_email: staffEmail, outcome: 'queued' }, { staff_email: staffEmail, outcome: 'queued' }]);
      expect(after).to.include('обновление истории amoCRM');
      const [bare] = await insertCustomers(w.t.db, [{ deliveryDate: '2030-01-01', interval: 'weekly' }]);
      await staff.post(`/staff/customers/${bare}/history`).type('form').send({ _csrf: csrfFrom(before) }).expect(303);
      expect(await jobs(bare!)).to.equal(0);
      await staff.post('/staff/customers/999999999/history').type('form').send({ _csrf: csrfFrom(before) }).expect(404);
    });
  });

  describe('the job', () => {
    before(() => w.t.startWorker());

    it('when it runs, then the notes and events of that lead only are stored newest first, in words, with authors and stage names', async () => {
      const a = await customerWithLead('Клиент А');
      const b = await customerWithLead('Клиент Б');
      const stages = (await w.simulator.controls.leads()).find((l) => l.id === a.leadId)!;
      const active = 7039103; // «Подписка активна» in the simulator's pipeline
      expect(stages.status_id).to.equal(7039102);
      await pause(1100); // each step a second apart: amoCRM's times are in seconds
      await w.simulator.controls.staffChangeLead(a.leadId, { status_id: active });
      await pause(1100);
      await w.simulator.controls.staffChangeLead(a.leadId, { custom_fields_values: [{ field_name: w.t.config.amocrm.fieldNames.wishes, values: [{ value: 'Без лилий' }] }] });
      await pause(1100);
      w.simulator.controls.staffAddNote(a.leadId, { note_type: 'call_in', params: { phone: '+79990000000', duration: 95, source: 'Телефония', uniq: 'c1', link: '' } });
      await pause(1100);
      w.simulator.controls.staffAddNote(a.leadId, { note_type: 'common', params: { text: 'Просила <b>пионы</b>' } });
      w.simulator.controls.staffAddNote(b.leadId, { note_type: 'common', params: { text: 'Заметка другого клиента' } });

      const html = await page(a.id); // nothing stored: the page queues the job
      expect(section(html)).to.include('ещё не загружено · загружается');
      await refreshed(a.id, null);
      const shown = await page(a.id);
      expect(texts(shown)).to.deep.equal([
        'Просила &lt;b&gt;пионы&lt;/b&gt;',
        'Входящий звонок: 1 мин 35 с',
        `Изменено поле «${w.t.config.amocrm.fieldNames.wishes}»`,
        'Этап: Новая заявка → Подписка активна',
        'Сделка создана',
      ]);
      expect(lines(shown)[0]).to.match(/^\d+ \S+ \d{4}, \d\d:\d\d · Менеджер \| /);
      expect(lines(shown)[4]).to.match(/· Администратор \| Сделка создана$/);
      expect(shown).not.to.include('Заметка другого клиента');
      expect(section(shown)).to.match(/обновлено \d+ \S+ \d{4}, \d\d:\d\d<\/p>/).and.not.include('загружается');
      // the stage names were read once from amoCRM and kept
      expect(await w.t.db('amocrm_statuses').where({ status_id: active }).first('name')).to.deep.equal({ name: 'Подписка активна' });
      const log = await w.t.db('amocrm_sync_log').where({ user_id: a.id, task: TASK }).select('outcome', 'message');
      expect(log).to.deep.equal([{ outcome: 'ok', message: 'updated' }]);
      expect(shown).to.include('загрузка истории сделки');
    });

    it('when the lead has more notes than a page, then the pages are followed up to the latest 100, of which the page shows 30', async () => {
      const { id, leadId } = await customerWithLead();
      await api('POST', `/api/v4/leads/${leadId}/notes`, Array.from({ length: 130 }, (_, i) => ({ note_type: 'common', params: { text: `Заметка ${i + 1}` } })));
      const sent = w.simulator.controls.requests().length;
      await page(id);
      await refreshed(id, null);
      const reads = w.simulator.controls.requests().slice(sent).filter((r) => r.method === 'GET');
      expect(reads.filter((r) => r.path === `/api/v4/leads/${leadId}/notes`).map((r) => [r.query.page, r.query.limit, r.status])).to.deep.equal([['1', '50', 200], ['2', '50', 200]]);
      expect(reads.filter((r) => r.path === '/api/v4/events').map((r) => [r.query.page, r.status])).to.deep.equal([['1', 200], ['2', 200]]);
      expect(reads.find((r) => r.path === '/api/v4/events')!.query.filter).to.deep.equal({ entity: ['lead'], entity_id: [String(leadId)] });
      const stored = (await cached(id)).entries as { text: string }[];
      expect(stored).to.have.length(100);
      expect([stored[0]!.text, stored[99]!.text]).to.deep.equal(['Заметка 130', 'Заметка 31']);
      const html = await page(id);
      const shown = texts(html);
      expect(shown).to.have.length(30);
      expect([shown[0], shown[29]]).to.deep.equal(['Заметка 130', 'Заметка 101']);
      expect(section(html)).to.include('Показаны последние 30.');
    });

    it('when the lead has no notes (204), then its events alone are stored', async () => {
      const { id, leadId } = await customerWithLead();
      const sent = w.simulator.controls.requests().length;
      await page(id);
      await refreshed(id, null);
      const notes = w.simulator.controls.requests().slice(sent).filter((r) => r.path === `/api/v4/leads/${leadId}/notes`);
      expect(notes.map((r) => r.status)).to.deep.equal([204]);
      expect(texts(await page(id))).to.deep.equal(['Сделка создана']);
    });

    it('when the integration may not list the users (403), then the history comes without authors and the sync is not paused', async () => {
      const { id } = await customerWithLead();
      w.simulator.controls.failNext(1, 403, { title: 'Forbidden', type: 'https://httpstatus.es/403', status: 403, detail: 'Access denied' }, '/api/v4/users');
      await page(id);
      await refreshed(id, null);
      expect(lines(await page(id))).to.have.length(1).and.to.match(/^\d+ \S+ \d{4}, \d\d:\d\d \| Сделка создана$/);
      expect(w.simulator.controls.requests().some((r) => r.path === '/api/v4/users' && r.status === 403)).to.equal(true);
      expect((await w.t.db('amocrm_connection').where({ id: 1 }).first('state')).state).not.to.equal('paused');
      expect(await w.t.db('amocrm_sync_log').where({ user_id: id, task: TASK }).select('outcome')).to.deep.equal([{ outcome: 'ok' }]);
    });

    for (const status of [500, 429]) {
      it(`when amoCRM answers ${status}, then the stored history stays on the page and the failure is in the sync log`, async () => {
        const { id, leadId } = await customerWithLead();
        await page(id);
        const first = await refreshed(id, null);
        await w.t.db('amocrm_lead_history').where({ user_id: id }).update({ fetched_at: minutesAgo(30) });
        w.simulator.controls.staffAddNote(leadId, { note_type: 'common', params: { text: 'Новая запись' } });
        // Only the history's own read fails: a late webhook echo's lead read must not take the failure.
        w.simulator.controls.failNext(1, status, status === 429 ? { title: 'Too Many Requests', type: 'https://httpstatus.es/429', status: 429, detail: 'slow down', retry_after: 1 } : undefined, `/api/v4/leads/${leadId}/notes`);
        expect(section(await page(id))).to.include('загружается');
        await waitFor(async () => w.t.db('amocrm_sync_log').where({ user_id: id, task: TASK, outcome: 'retry', http_status: status }).first(), 15_000, `the ${status} recorded`);
        const shown = await page(id);
        expect(texts(shown)).to.deep.equal(['Сделка создана']);
        expect(section(shown)).to.include('обновлено').and.include('загружается');
        expect((await cached(id)).entries).to.deep.equal(first.entries);
        // the retry reads it
        await refreshed(id, minutesAgo(29));
        expect(texts(await page(id))).to.deep.equal(['Новая запись', 'Сделка создана']);
      });
    }
  });
});
