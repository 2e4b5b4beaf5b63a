import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import pg from 'pg';
import pino from 'pino';
import { createJobQueue, createWorker } from '../src/services/job-queue.js';
import { testDatabase } from './helpers/db.js';
import { waitFor } from './helpers/wait.js';

const VALUES = "select 42::bigint as n, count(*) as c, '2026-03-01'::date as d, '2026-03-01T10:00:00Z'::timestamptz as t from (values (1), (2)) v";

describe('database values', () => {
  it('when our pool reads bigints, dates and timestamps, then they come back as numbers, YYYY-MM-DD strings and Dates', async () => {
    const { rows } = await testDatabase().db.raw(VALUES);
    expect(rows[0]).to.deep.equal({ n: 42, c: 2, d: '2026-03-01', t: new Date('2026-03-01T10:00:00Z') });
  });

  it('when another pool in the process reads the same values, then it gets pg\'s defaults: our parsers are not process-wide', async () => {
    const client = new pg.Client({ connectionString: testDatabase().url });
    await client.connect();
    try {
      const { rows } = await client.query(VALUES);
      expect(rows[0].n).to.equal('42');
      expect(rows[0].c).to.equal('2');
      expect(rows[0].d).to.be.instanceOf(Date);
    } finally {
      await client.end();
    }
  });

  it('when graphile-worker runs a job, then the job id it hands to the task is the string its types declare', async () => {
    const seen: unknown[] = [];
    const worker = createWorker({
      connectionString: testDatabase().url,
      logger: pino({ level: 'silent' }),
      tasks: { 'test:job-id': async (_payload, helpers) => { seen.push(helpers.job.id); } },
      pollInterval: 200,
    });
    await worker.start();
    try {
      await createJobQueue().add(testDatabase().db, 'test:job-id', { mark: randomUUID() });
      await waitFor(() => seen.length > 0, 5000, 'the job ran');
      expect(seen[0]).to.be.a('string').and.match(/^\d+$/);
    } finally {
      await worker.stop();
    }
  });
});
