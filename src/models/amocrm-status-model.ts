import type { Knex } from 'knex';

export type Stage = { statusId: number; pipelineId: number; name: string; pipelineName: string };

/** amoCRM pipeline stages as last read (to show a lead's stage by name). */
export function createAmocrmStatusModel(db: Knex | Knex.Transaction) {
  return {
    async replaceAll(stages: Stage[]): Promise<void> {
      await db.transaction(async (trx) => {
        await trx('amocrm_statuses').delete();
        if (stages.length) await trx('amocrm_statuses').insert(stages.map((s) => ({ status_id: s.statusId, pipeline_id: s.pipelineId, name: s.name, pipeline_name: s.pipelineName })));
      });
    },
    async name(statusId: number): Promise<string | null> {
      const row = await db('amocrm_statuses').where({ status_id: statusId }).first('name');
      return row?.name ?? null;
    },
  };
}
