import type { Request, Response } from 'express';
import type { Knex } from 'knex';

/** GET /healthz: 200 "ok" when the database answers within two seconds, 503 otherwise. */
export function createHealthController({ db }: { db: Knex }) {
  return {
    async show(_req: Request, res: Response) {
      res.set('Cache-Control', 'no-store').type('text/plain');
      try {
        await Promise.race([
          db.raw('select 1'),
          new Promise((_, reject) => setTimeout(() => reject(new Error('database did not answer in 2 s')), 2000).unref()),
        ]);
        res.send('ok');
      } catch {
        res.status(503).send('database unavailable');
      }
    },
  };
}
