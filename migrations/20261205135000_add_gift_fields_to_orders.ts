import type { Knex } from 'knex';

// A one-off order may be a gift: the bouquet goes to the order's address and the courier calls the recipient, not
// the customer. Name and phone come together or not at all; the phone is kept normalised (+7 and ten digits of
// a Russian number), and the card message is printed on the card that goes with the bouquet.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('orders', (t) => {
    t.text('recipient_name').nullable();
    t.text('recipient_phone').nullable();
    t.text('card_message').nullable();
  });
  // The card message's check is written flat (no BETWEEN inside AND): PostgreSQL prints a nested one differently once
  // restored from a dump, and the backup test compares a restored database's dump with the original's.
  await knex.raw(`alter table orders
    add constraint orders_recipient_check check ((recipient_name is null) = (recipient_phone is null)),
    add constraint orders_recipient_name_check check (char_length(recipient_name) between 1 and 100),
    add constraint orders_recipient_phone_check check (recipient_phone ~ '^\\+7([349][0-9]|8[0-8])[0-9]{8}$'),
    add constraint orders_card_message_check check (card_message is null or (char_length(card_message) >= 1 and char_length(card_message) <= 300 and recipient_name is not null))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('orders', (t) => {
    t.dropColumn('card_message');
    t.dropColumn('recipient_phone');
    t.dropColumn('recipient_name');
  });
}
