import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import pino from 'pino';
import { createJobQueue, createWorker, type Worker } from '../../src/services/job-queue.js';
import { testDatabase } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';

describe('job queue', () => {
  const jobs = createJobQueue();
  const ran: string[] = [];
  let worker: Worker;

  before(async () => {
    worker = createWorker({
      connectionString: testDatabase().url,
      logger: pino({ level: 'silent' }),
      tasks: { 'test:record': async (payload) => { ran.push((payload as { mark: string }).mark); } },
      pollInterval: 200,
    });
    await worker.start();
  });
  after(() => worker.stop());

  it('when the transaction that added a job commits, then the job runs', async () => {
    const mark = randomUUID();
    await testDatabase().db.transaction(async (trx) => {
      await jobs.add(trx, 'test:record', { mark });
    });
    await waitFor(() => ran.includes(mark), 5000);
  });

  it('when the transaction that added a job rolls back, then the job never exists and never runs', async () => {
    const mark = randomUUID();
    const committed = randomUUID();
    await testDatabase().db.transaction(async (trx) => {
      await jobs.add(trx, 'test:record', { mark });
      await trx.rollback();
    }).catch(() => undefined);
    // A later committed job proves the worker was running while the rolled-back one would have been due.
    await testDatabase().db.transaction((trx) => jobs.add(trx, 'test:record', { mark: committed }));
    await waitFor(() => ran.includes(committed), 5000);
    expect(ran).not.to.include(mark);
    const { rows } = await testDatabase().db.raw("select count(*)::int as n from graphile_worker._private_jobs where payload->>'mark' = ?", [mark]);
    expect(rows[0].n).to.equal(0);
  });
});
