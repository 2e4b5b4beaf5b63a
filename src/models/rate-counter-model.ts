import type { Knex } from 'knex';

export type Hit = { hits: number; resetAt: Date };

/** Fixed-window counters in PostgreSQL, so that every app process sees the same count. */
export function createRateCounterModel(db: Knex) {
  return {
    async hit(key: string, windowMs: number): Promise<Hit> {
      const { rows } = await db.raw(
        `insert into rate_limits (key, hits, reset_at) values (?, 1, now() + make_interval(secs => ?))
         on conflict (key) do update set
           hits = case when rate_limits.reset_at <= now() then 1 else rate_limits.hits + 1 end,
           reset_at = case when rate_limits.reset_at <= now() then excluded.reset_at else rate_limits.reset_at end
         returning hits, reset_at`,
        [key, windowMs / 1000],
      );
      return { hits: rows[0].hits, resetAt: rows[0].reset_at };
    },
    async decrement(key: string): Promise<void> {
      await db('rate_limits').where({ key }).andWhere('hits', '>', 0).decrement('hits', 1);
    },
    async reset(key: string): Promise<void> {
      await db('rate_limits').where({ key }).delete();
    },
    async deleteExpired(): Promise<number> {
      return db('rate_limits').where('reset_at', '<=', db.fn.now()).delete();
    },
  };
}

export type RateCounterModel = ReturnType<typeof createRateCounterModel>;
