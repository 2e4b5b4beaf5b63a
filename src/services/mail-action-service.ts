// What a one-click link from a reminder mail does (GET/POST /m/:token). Opening a link only describes the change;
// acting uses the link up (its hash goes into mail_action_uses, a conflict meaning it was used) and makes the
// change through the subscription's own operations (the same as the account's), recorded with source 'mail'.
// A link that was altered or forged, used, or expired changes nothing; a delivery past its cut-off is locked.
import type { Knex } from 'knex';
import type { MessageKey } from '../i18n/i18n.js';
import { createSubscriptionModel } from '../models/subscription-model.js';
import { hashToken } from './link-tokens.js';
import { cutoffOf, deliveriesBetween, isLocked } from './deliveries.js';
import type { MailLink, MailLinks } from './mail-links.js';
import type { ReminderService } from './reminder-service.js';
import { isDate, type MoveRange, type SubscriptionService } from './subscription-service.js';

/** The subscription operations a mail link calls: the account's own, with source 'mail'. */
type SubscriptionActions = Pick<SubscriptionService, 'skip' | 'move' | 'moveRange'>;

export type Refusal = {
  refused: 'invalid' | 'used' | 'expired' | 'locked' | 'gone'; status: 404 | 409 | 410; date?: string; cutoffAt?: Date;
};
export type Opened = { link: MailLink; email: string; cutoffAt: Date; range: MoveRange | null };
export type Acted = { done: MailLink['action']; date: string; newDate?: string };
export type BadDate = { badDate: MessageKey; opened: Opened };

const REFUSED_MOVES: Record<string, MessageKey> = {
  same_day: 'mail_action.move.same_day', past: 'mail_action.move.out_of_range', too_late: 'mail_action.move.out_of_range',
  taken: 'mail_action.move.taken', paused: 'mail_action.move.paused',
};

export function createMailActionService({ db, links, reminders, subscriptions, timeZone, cutoff }: {
  db: Knex; links: MailLinks; reminders: ReminderService; subscriptions: SubscriptionActions; timeZone: string; cutoff: string;
}) {
  const rules = { cutoff, timeZone };

  async function open(token: string): Promise<Opened | Refusal> {
    const link = links.read(token);
    const user = link && await db('users').where({ id: link.userId, role: 'customer' }).first('email');
    if (!link || !user) return { refused: 'invalid', status: 404 };
    if (await db('mail_action_uses').where({ token_hash: hashToken(token) }).first('user_id')) return { refused: 'used', status: 410 };
    const cutoffAt = cutoffOf(link.date, cutoff, timeZone);
    const now = new Date();
    if (link.action === 'unsubscribe') {
      if (link.expiresAt <= now) return { refused: 'expired', status: 410 };
      return { link, email: user.email, cutoffAt, range: null };
    }
    if (isLocked(link.date, now, rules)) return { refused: 'locked', status: 409, date: link.date, cutoffAt };
    if (link.expiresAt <= now) return { refused: 'expired', status: 410 };
    const record = await createSubscriptionModel(db).load(link.userId, link.date, link.date);
    const delivered = record && deliveriesBetween(record.subscription, record.exceptions, [], link.date, link.date)
      .some((e) => e.state === 'planned' || e.state === 'moved');
    if (!delivered) return { refused: 'gone', status: 409, date: link.date };
    const range = link.action === 'move' ? await subscriptions.moveRange(link.userId, link.date) : null;
    if (link.action === 'move' && !range) return { refused: 'gone', status: 409, date: link.date };
    return { link, email: user.email, cutoffAt, range };
  }

  /** Marks the link used; false when it already was (another request got there first). */
  async function claim(trx: Knex | Knex.Transaction, token: string, link: MailLink): Promise<boolean> {
    const rows = await trx('mail_action_uses').insert({ token_hash: hashToken(token), user_id: link.userId, expires_at: link.expiresAt })
      .onConflict('token_hash').ignore().returning('user_id');
    return rows.length === 1;
  }

  return {
    open,

    /** Does what the link says: `newDate` for a move. */
    async act(token: string, input: { newDate?: string }): Promise<Acted | Refusal | BadDate> {
      const opened = await open(token);
      if ('refused' in opened) return opened;
      const { link } = opened;
      if (link.action === 'unsubscribe') {
        const used = await db.transaction(async (trx) => {
          if (!(await claim(trx, token, link))) return false;
          await reminders.setWanted(link.userId, false, 'mail', trx);
          return true;
        });
        return used ? { done: 'unsubscribe', date: link.date } : { refused: 'used', status: 410 };
      }
      const newDate = input.newDate ?? '';
      if (link.action === 'move') {
        if (!isDate(newDate)) return { badDate: 'mail_action.move.invalid_date', opened };
        if (newDate < opened.range!.earliest || newDate > opened.range!.latest) return { badDate: 'mail_action.move.out_of_range', opened };
      }
      if (!(await claim(db, token, link))) return { refused: 'used', status: 410 };
      const outcome = link.action === 'skip'
        ? await subscriptions.skip(link.userId, link.date, 'mail')
        : await subscriptions.move(link.userId, link.date, newDate, 'mail');
      if (outcome.ok) return { done: link.action, date: link.date, ...(link.action === 'move' ? { newDate } : {}) };
      // Refused after all (changed in the meantime): the link is not used up by a change that did not happen.
      await db('mail_action_uses').where({ token_hash: hashToken(token) }).delete();
      if (outcome.reason === 'locked') return { refused: 'locked', status: 409, date: link.date, cutoffAt: opened.cutoffAt };
      const message = link.action === 'move' ? REFUSED_MOVES[outcome.reason] : undefined;
      return message ? { badDate: message, opened } : { refused: 'gone', status: 409, date: link.date };
    },
  };
}
export type MailActionService = ReturnType<typeof createMailActionService>;
