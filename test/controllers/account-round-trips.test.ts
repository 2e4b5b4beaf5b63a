import { expect } from 'chai';
import { createTestApp, recordQueries, type TestApp } from '../helpers/app.js';
import { client, signUp } from '../helpers/client.js';
import { createAmocrmStatusModel } from '../../src/models/amocrm-status-model.js';

describe('the logged-in account page: few database round trips, cached names refreshed on change', () => {
  let t: TestApp;
  let recorded: ReturnType<typeof recordQueries>;
  before(() => {
    t = createTestApp();
    recorded = recordQueries(t.db);
  });
  after(async () => {
    recorded.stop();
    await t.close();
  });

  it('GET /account reads the session with its user, then the page: two round trips, and writes nothing', async () => {
    const agent = client(t.app);
    await signUp(agent);
    await agent.get('/account').expect(200); // the flash is taken and saved; categories and stage names cached
    const queries = recorded.sql;
    queries.length = 0;
    const page = await agent.get('/account').expect(200);
    expect(page.text).to.include('Сезонный');
    expect(queries, queries.join('\n')).to.have.length(2);
    expect(queries.filter((q) => /^\s*(insert|update|delete)/i.test(q))).to.deep.equal([]);
  });

  it('a stage name replaced by this process is shown at once; one it has not seen yet is read from the database', async () => {
    const agent = client(t.app);
    const { email } = await signUp(agent);
    const stages = createAmocrmStatusModel(t.db);
    await stages.replaceAll([{ statusId: 501, pipelineId: 7, name: 'Первый этап', pipelineName: 'Подписка' }]);
    await t.db('users').whereRaw('lower(email) = ?', [email]).update({ amo_lead_id: 9001, amo_status_id: 501 });
    expect((await agent.get('/account').expect(200)).text).to.include('Первый этап');
    await stages.replaceAll([{ statusId: 501, pipelineId: 7, name: 'Переименованный этап', pipelineName: 'Подписка' }]);
    expect((await agent.get('/account').expect(200)).text).to.include('Переименованный этап');
    await t.db('amocrm_statuses').insert({ status_id: 502, pipeline_id: 7, name: 'Новый этап', pipeline_name: 'Подписка' });
    await t.db('users').whereRaw('lower(email) = ?', [email]).update({ amo_status_id: 502 });
    expect((await agent.get('/account').expect(200)).text).to.include('Новый этап');
  });
});
