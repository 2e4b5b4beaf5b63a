// The amoCRM mirror wired: the queue (queue.ts), outbound sync of customers and orders (outbound-sync.ts, with
// lead-values.ts and lead-notes.ts), inbound lead updates (lead-updates.ts), and the failure policy every job of
// the amoCRM queue runs under (job-policy.ts).
import type { Knex } from 'knex';
import type { Crm } from '../../crm/crm.js';
import type { Logger } from '../../logger.js';
import { createCrmJobPolicy } from './job-policy.js';
import { createLeadUpdates } from './lead-updates.js';
import { createLeadValues } from './lead-values.js';
import { createOutboundSync } from './outbound-sync.js';
import type { CrmQueue } from './queue.js';

export function createCrmSync({ db, crm, queue, appUrl, logger, timeZone, cancelStage = null }: {
  db: Knex; crm: Crm; queue: CrmQueue; appUrl: string; logger: Logger; timeZone: string; cancelStage?: string | null;
}) {
  const leadValues = createLeadValues({ db, appUrl, timeZone });
  const inbound = createLeadUpdates({ db, crm, leadValues });
  const outbound = createOutboundSync({ db, crm, leadValues, applyLead: inbound.applyLead, queueCustomerSync: queue.queueCustomerSync, logger, timeZone, cancelStage });
  const policy = createCrmJobPolicy({ db, crm, logger });
  return { outbound, inbound, policy };
}
