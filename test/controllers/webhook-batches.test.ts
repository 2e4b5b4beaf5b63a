import { expect } from 'chai';
import knex from 'knex';
import request from 'supertest';
import { createTestApp, recordQueries, type TestApp } from '../helpers/app.js';
import { client, signUp } from '../helpers/client.js';
import { createWebhookIntake } from '../../src/models/webhook-model.js';

describe('amoCRM webhooks in a burst: stored and queued together, each answered after its own commit', () => {
  let t: TestApp;
  let recorded: ReturnType<typeof recordQueries>;
  const hookPath = () => `/webhooks/amocrm/${t.config.amocrm.webhookSecret}`;
  const post = (requestId: string, body: string) =>
    request(t.app).post(hookPath()).set('X-Amocrm-Requestid', requestId).type('form').send(body);
  before(() => {
    t = createTestApp();
    recorded = recordQueries(t.db);
  });
  after(async () => {
    recorded.stop();
    await t.close();
  });

  it('when 40 webhooks arrive at once, then fewer statements than webhooks store them all, with one job per lead, and a repeat is a duplicate', async () => {
    const statements = recorded.sql;
    statements.length = 0;
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) =>
      post(`burst-${i}`, `leads[status][0][id]=${7000 + (i % 10)}&leads[status][0][status_id]=142&account[id]=1`)));
    expect(answers.map((a) => `${a.status} ${a.text}`)).to.deep.equal(Array.from({ length: 40 }, () => '200 ok'));
    const stored = await t.db('amocrm_webhooks').where('request_id', 'like', 'burst-%').select('request_id', 'lead_ids');
    expect(stored).to.have.length(40);
    const inserts = statements.filter((s) => s.includes('insert into amocrm_webhooks'));
    expect(inserts.length, 'statements for 40 webhooks').to.be.greaterThan(0).and.lessThan(40);
    const jobs = await t.db('graphile_worker._private_jobs').where('key', 'like', 'amocrm:lead:700%').select('key', 'payload');
    expect(jobs.map((j: { key: string }) => j.key).sort()).to.deep.equal(Array.from({ length: 10 }, (_, i) => `amocrm:lead:${7000 + i}`));
    expect(jobs.find((j: { key: string }) => j.key === 'amocrm:lead:7003').payload).to.deep.equal({ leadId: 7003 });

    const again = await Promise.all([post('burst-3', 'leads[status][0][id]=7003'), post('burst-new', 'leads[status][0][id]=7003'), post('burst-new', 'leads[status][0][id]=7003')]);
    expect(again.map((a) => a.text)).to.deep.equal(['duplicate', 'ok', 'duplicate']);
  });

  it('when one delivery of a burst cannot be stored, then it alone fails (not 200) and the others are stored', async () => {
    const answers = await Promise.all([
      post('mixed-1', 'leads[status][0][id]=7101'),
      post('mixed-bad', 'leads[status][0][id]=7102&note=\u0000'), // PostgreSQL refuses a NUL in text
      post('mixed-2', 'leads[status][0][id]=7103'),
    ]);
    expect(answers.map((a) => a.status)).to.deep.equal([200, 500, 200]);
    const stored = await t.db('amocrm_webhooks').where('request_id', 'like', 'mixed-%').orderBy('request_id').pluck('request_id');
    expect(stored).to.deep.equal(['mixed-1', 'mixed-2']);
    expect(await t.db('graphile_worker._private_jobs').where('key', 'amocrm:lead:7102').first()).to.equal(undefined);
  });

  it('when large deliveries wait together, then a statement holds at most about 1 MB of them', async () => {
    const intake = createWebhookIntake(t.db, { task: 'amocrm:lead-changed', queue: 'amocrm', maxAttempts: 25, keyPrefix: 'amocrm:lead:' });
    const raw = 'x'.repeat(400 * 1024);
    const statements = recorded.sql;
    statements.length = 0;
    // The first goes at once; the other three wait for it, then 800 KB go together and the last alone.
    const stored = await Promise.all([1, 2, 3, 4].map((i) => intake.receive({ requestId: `large-${i}`, raw, leadIds: [7200 + i] })));
    expect(stored).to.deep.equal([true, true, true, true]);
    expect(statements.filter((s) => s.includes('insert into amocrm_webhooks'))).to.have.length(3);
  });

  it('a webhook is not a person\'s request: a session cookie on it is not read, and only its own statement runs', async () => {
    const agent = client(t.app);
    await signUp(agent);
    const cookie = (await agent.get('/account').expect(200)).request.cookies as unknown as string;
    expect(cookie).to.match(/sid=/);
    const statements = recorded.sql;
    statements.length = 0;
    const res = await request(t.app).post(hookPath()).set('Cookie', cookie).set('X-Amocrm-Requestid', 'with-cookie').type('form')
      .send('leads[status][0][id]=7301');
    expect(res.status).to.equal(200);
    expect(res.headers['set-cookie']).to.equal(undefined);
    expect(statements).to.have.length(1);
    expect(statements[0]).to.include('insert into amocrm_webhooks');
  });

  it('when the database cannot be reached, then a waiting batch fails at once instead of trying its deliveries one by one', async () => {
    const quiet = () => undefined;
    const unreachable = knex({ log: { warn: quiet, error: quiet, debug: quiet, deprecate: quiet }, client: 'pg', connection: { connectionString: 'postgres://postgres@127.0.0.1:1/none', connectionTimeoutMillis: 200 }, pool: { min: 0, max: 2 }, acquireConnectionTimeout: 300 });
    let acquires = 0;
    (unreachable.client as { pool: { on: (event: string, f: () => void) => void } }).pool.on('acquireRequest', () => { acquires++; });
    try {
      const intake = createWebhookIntake(unreachable, { task: 'amocrm:lead-changed', queue: 'amocrm', maxAttempts: 25, keyPrefix: 'amocrm:lead:' });
      const results = await Promise.allSettled([1, 2, 3].map((i) => intake.receive({ requestId: `down-${i}`, raw: 'x', leadIds: [7400 + i] })));
      expect(results.map((r) => r.status)).to.deep.equal(['rejected', 'rejected', 'rejected']);
      expect(acquires, 'the first alone, then the other two together').to.equal(2);
    } finally {
      await unreachable.destroy();
    }
  });
});
