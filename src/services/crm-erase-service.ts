// A deleted account in amoCRM (152-FZ): the personal fields of the customer's lead, of the leads of their orders
// and of their contact are blanked by field_id (`values: null`), the names carry no address any more, and the
// customer's lead gets one note saying why. The job holds only amoCRM ids; it runs in the amoCRM queue under the
// same retry policy as the sync (crm-sync/job-policy.ts), and is safe to repeat: the note is looked for first,
// so a retry after a lost answer never adds a second one.
import type { Knex } from 'knex';
import type { Crm } from '../crm/crm.js';
import type { FieldRole } from '../crm/field-map.js';
import { CRM_MAX_ATTEMPTS, CRM_QUEUE } from './crm-sync/queue.js';
import type { JobQueue } from './job-queue.js';

export const ERASE_CUSTOMER = 'amocrm:erase-customer';
export const ERASED_NOTE = 'Персональные данные удалены по запросу клиента';
const ERASED_NAME = 'Клиент удалён';

/** The lead fields that identify the person; the bouquet, interval, date and sum stay for the shop's figures. */
const PERSONAL_FIELDS: FieldRole[] = ['address', 'wishes', 'email', 'referralLink'];

export type ErasePayload = { userId: number; leadId: number | null; contactId: number | null; orderLeads: { orderId: number; leadId: number }[] };

export function createCrmEraseService({ crm, jobs }: { crm: Crm; jobs: JobQueue }) {
  return {
    /** Queues the erasure inside the deletion's transaction; nothing when the customer never reached amoCRM. */
    async queue(trx: Knex.Transaction, payload: ErasePayload): Promise<void> {
      if (payload.leadId === null && payload.contactId === null && payload.orderLeads.length === 0) return;
      await jobs.add(trx, ERASE_CUSTOMER, payload, { queue: CRM_QUEUE, jobKey: `amocrm:erase:${payload.userId}`, maxAttempts: CRM_MAX_ATTEMPTS });
    },

    /** Job: blanks what amoCRM holds about the customer; repeating it changes nothing more. */
    async erase({ leadId, contactId, orderLeads }: ErasePayload): Promise<string> {
      await crm.leads.erase([
        ...(leadId !== null ? [{ id: leadId, name: `Цветочная подписка — ${ERASED_NAME.toLowerCase()}` }] : []),
        ...orderLeads.map((order) => ({ id: order.leadId, name: `Заказ №${order.orderId}` })),
      ], PERSONAL_FIELDS);
      if (contactId !== null) await crm.leads.eraseContact(contactId, ERASED_NAME);
      if (leadId !== null && !(await crm.leads.noteTexts(leadId)).includes(ERASED_NOTE)) await crm.leads.addNote(leadId, ERASED_NOTE);
      return 'erased';
    },
  };
}

export type CrmEraseService = ReturnType<typeof createCrmEraseService>;
