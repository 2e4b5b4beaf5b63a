import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { expect } from 'chai';
import pino from 'pino';
import { createDb } from '../../src/db.js';
import { createJobQueue, createWorker, type Worker } from '../../src/services/job-queue.js';
import { freshDatabase, testDatabase } from '../helpers/db.js';
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

  it('when graphile-worker\'s pool stops on an error of its own (a job\'s completion refused), then the process lives on, the error is logged and a new pool runs the next jobs', async () => {
    // A database of its own: the trigger below must not touch other tests' jobs.
    const fresh = await freshDatabase();
    const db = createDb(fresh.url);
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } }));
    const done: string[] = [];
    const own = createWorker({ connectionString: fresh.url, logger, tasks: { 'test:record': async (payload) => { done.push((payload as { mark: string }).mark); } }, pollInterval: 200 });
    try {
      await own.start();
      await db.raw(`create function refuse_completion() returns trigger language plpgsql as $$
        begin if old.payload->>'mark' = 'refused' then raise exception 'completion refused'; end if; return old; end $$;
        create trigger refuse_completion before delete on graphile_worker._private_jobs for each row execute function refuse_completion()`);
      await jobs.add(db, 'test:record', { mark: 'refused' });
      await waitFor(() => lines.some((l) => l.includes('job worker stopped unexpectedly')), 10_000, 'the pool stopping');
      expect(done).to.deep.equal(['refused']);
      await jobs.add(db, 'test:record', { mark: 'after' });
      await waitFor(() => done.includes('after'), 15_000, 'a job run by the new pool');
      expect(lines.some((l) => l.includes('completion refused'))).to.equal(true);
    } finally {
      await own.stop();
      await db.destroy();
      await fresh.drop();
    }
  });
});
