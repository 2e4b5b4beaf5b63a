// The notices the shop mailed to a customer (table sent_mails): which kind and when the mail server accepted it,
// never the content or the address. Shown on the customer's timeline.
import type { Knex } from 'knex';

export function createSentMailModel(db: Knex | Knex.Transaction) {
  return {
    async record(userId: number, kind: string): Promise<void> {
      await db('sent_mails').insert({ user_id: userId, kind });
    },
  };
}
