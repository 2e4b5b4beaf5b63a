// A deleted account in amoCRM (152-FZ): the personal fields of the customer's lead, of the leads of their orders
// and of their contact are blanked by field_id (`values: null`), the names carry no address any more, and the
// customer's lead gets one note saying why. The job holds only amoCRM ids; it runs in the amoCRM queue under the
// same retry policy as the sync (crm-sync-service runJob), and is safe to repeat: the note is looked for first,
// so a retry after a lost answer never adds a second one.
import type { Knex } from 'knex';
import type { Crm } from '../crm/crm.js';
import type { FieldRole, LeadValues } from '../crm/field-map.js';
import { CRM_QUEUE } from './crm-sync-service.js';
import type { JobQueue } from './job-queue.js';

export const ERASE_CUSTOMER = 'amocrm:erase-customer';
export const ERASED_NOTE = 'Персональные данные удалены по запросу клиента';
const ERASED_NAME = 'Клиент удалён';

/** The lead fields that identify the person; the bouquet, interval, date and sum stay for the shop's figures. */
const PERSONAL_FIELDS: FieldRole[] = ['address', 'wishes', 'email', 'referralLink'];

export type ErasePayload = { userId: number; leadId: number | null; contactId: number | null; orderLeads: { orderId: number; leadId: number }[] };

export function createCrmEraseService({ crm, jobs }: { crm: Crm; jobs: JobQueue }) {
  const blank: LeadValues = Object.fromEntries(PERSONAL_FIELDS.map((role) => [role, '']));

  return {
    /** Queues the erasure inside the deletion's transaction; nothing when the customer never reached amoCRM. */
    async queue(trx: Knex.Transaction, payload: ErasePayload): Promise<void> {
      if (payload.leadId === null && payload.contactId === null && payload.orderLeads.length === 0) return;
      await jobs.add(trx, ERASE_CUSTOMER, payload, { queue: CRM_QUEUE, jobKey: `amocrm:erase:${payload.userId}`, maxAttempts: 25 });
    },

    /** Job: blanks what amoCRM holds about the customer; repeating it changes nothing more. */
    async erase({ leadId, contactId, orderLeads }: ErasePayload): Promise<string> {
      const fields = await crm.fields.encode(blank, { forCreate: false });
      if (leadId !== null) await crm.client.updateLead(leadId, { name: `Цветочная подписка — ${ERASED_NAME.toLowerCase()}`, custom_fields_values: fields });
      for (const order of orderLeads) await crm.client.updateLead(order.leadId, { name: `Заказ №${order.orderId}`, custom_fields_values: fields });
      if (contactId !== null) {
        // Every value the contact holds (EMAIL, and a phone staff may have added) is cleared by its field_id.
        const contact = await crm.client.contact(contactId);
        if (contact) await crm.client.eraseContact(contactId, ERASED_NAME, (contact.custom_fields_values ?? []).flatMap((f) => (f.field_id ? [Number(f.field_id)] : [])));
      }
      if (leadId !== null && !(await crm.client.noteTexts(leadId)).includes(ERASED_NOTE)) await crm.client.addNote(leadId, ERASED_NOTE);
      return 'erased';
    },
  };
}

export type CrmEraseService = ReturnType<typeof createCrmEraseService>;
