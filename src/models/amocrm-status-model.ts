import type { Knex } from 'knex';

export type Stage = { statusId: number; pipelineId: number; name: string; pipelineName: string };

// Stage names are read by every account and order page but change only when the pipelines are read again from
// amoCRM: each process keeps them for a minute per database, forgets them when it replaces them itself, and asks
// the database for a stage it does not know yet.
const NAMES_TTL_MS = 60_000;
const kept = new WeakMap<object, { until: number; names: Promise<Map<number, string>> }>();

/** amoCRM pipeline stages as last read (to show a lead's stage by name). */
export function createAmocrmStatusModel(db: Knex | Knex.Transaction) {
  const allNames = (): Promise<Map<number, string>> => {
    const hit = kept.get(db);
    if (hit && hit.until > Date.now()) return hit.names;
    const names = db('amocrm_statuses').select('status_id', 'name')
      .then((rows: { status_id: number | string; name: string }[]) => new Map(rows.map((r) => [Number(r.status_id), r.name])));
    kept.set(db, { until: Date.now() + NAMES_TTL_MS, names });
    names.catch(() => kept.delete(db));
    return names;
  };
  return {
    async replaceAll(stages: Stage[]): Promise<void> {
      await db.transaction(async (trx) => {
        await trx('amocrm_statuses').delete();
        if (stages.length) await trx('amocrm_statuses').insert(stages.map((s) => ({ status_id: s.statusId, pipeline_id: s.pipelineId, name: s.name, pipeline_name: s.pipelineName })));
      });
      kept.delete(db);
    },
    /** The stages of that name (case and surrounding spaces ignored), in every pipeline. */
    async findByName(name: string): Promise<Stage[]> {
      const rows: { status_id: string | number; pipeline_id: string | number; name: string; pipeline_name: string }[] = await db('amocrm_statuses')
        .whereRaw('lower(trim(name)) = lower(trim(?))', [name]).select('status_id', 'pipeline_id', 'name', 'pipeline_name');
      return rows.map((r) => ({ statusId: Number(r.status_id), pipelineId: Number(r.pipeline_id), name: r.name, pipelineName: r.pipeline_name }));
    },
    /** Every stage's name by its id. */
    async names(): Promise<Map<number, string>> {
      return allNames();
    },
    async name(statusId: number): Promise<string | null> {
      if (!db.isTransaction) {
        const known = (await allNames()).get(statusId);
        if (known !== undefined) return known;
      }
      const row = await db('amocrm_statuses').where({ status_id: statusId }).first('name');
      return row?.name ?? null;
    },
  };
}
