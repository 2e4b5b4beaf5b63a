// The stages the customer's lead went through (table lead_stage_changes), kept locally so that the account's
// timeline never asks amoCRM. Only real changes are rows: a stage equal to the latest recorded one adds nothing.
import type { Knex } from 'knex';

export type LeadStageSource = 'lead_created' | 'amocrm';
export type LeadStageChange = { userId: number; statusId: number; pipelineId: number | null; changedAt: Date; source: LeadStageSource };

export function createLeadStageModel(db: Knex | Knex.Transaction) {
  return {
    /**
     * Records the stage with its name as amocrm_statuses has it now (the pipeline's own stage first: the closed
     * stages 142/143 exist in every pipeline). Never earlier than the account itself: amoCRM's clock counts whole
     * seconds, so a lead made in the second of the sign-up would otherwise come before «request received».
     * Returns whether a row was added.
     */
    async record(change: LeadStageChange): Promise<boolean> {
      const { rowCount } = await db.raw(`
        insert into lead_stage_changes (user_id, status_id, pipeline_id, stage_name, changed_at, source)
        select u.id, ?, ?::bigint,
               (select s.name from amocrm_statuses s where s.status_id = ? order by s.pipeline_id is not distinct from ?::bigint desc limit 1),
               greatest(?::timestamptz, u.created_at), ?
          from users u
         where u.id = ?
           and (select c.status_id from lead_stage_changes c where c.user_id = u.id order by c.id desc limit 1) is distinct from ?::bigint`,
      [change.statusId, change.pipelineId, change.statusId, change.pipelineId, change.changedAt, change.source, change.userId, change.statusId]);
      return rowCount === 1;
    },
  };
}
