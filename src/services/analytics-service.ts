// Web analytics from the server: events about a customer go to Yandex Metrica's measurement protocol and/or GA4's,
// through the job queue, never on a page's path. Nothing is queued or sent when analytics is not configured or the
// customer has not given the analytics consent — checked when the event happens and again when it is sent, so a
// withdrawn consent stops what is still waiting. What goes out: the random client id minted at sign-up, the event,
// its time and value, and the first-touch tags (UTM, yclid) — never an email, name, address, phone, IP or user id.
//
// Other code records an event with `track(trx, userId, event, { entity, valueKopecks })` inside its own
// transaction (see track below). Each (user, event, entity) is recorded once in analytics_events, and each
// destination's answer is stamped there: a retried job sends only to the destinations that have not answered.
import { randomInt } from 'node:crypto';
import type { Knex } from 'knex';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Attribution } from '../middleware/attribution.js';
import type { JobQueue } from './job-queue.js';

export const ANALYTICS_EVENTS = ['sign_up', 'subscription_start', 'order_confirmed', 'subscription_pause', 'subscription_cancel'] as const;
export type AnalyticsEvent = (typeof ANALYTICS_EVENTS)[number];
export const ANALYTICS_SEND = 'analytics:send';

/**
 * `entity` tells apart events of one kind for one customer (an order's id, a pause's start date, a cancellation's
 * time); the same (user, event, entity) is sent only once, whoever tracks it again. `valueKopecks`: the money
 * involved, sent in roubles with the currency.
 */
export type TrackOptions = { entity?: string | number; valueKopecks?: number };

/** The page each event is said to happen on (Metrica needs a page view to open a session for the event). */
const PAGES: Record<AnalyticsEvent, string> = {
  sign_up: '/signup', subscription_start: '/signup', order_confirmed: '/account/orders',
  subscription_pause: '/account/pause', subscription_cancel: '/account/cancel',
};
const UTM = ['utm_source', 'utm_medium', 'utm_campaign', 'utm_content', 'utm_term'] as const;
const GA4_CAMPAIGN: Record<(typeof UTM)[number], string> = {
  utm_source: 'campaign_source', utm_medium: 'campaign_medium', utm_campaign: 'campaign_name', utm_content: 'campaign_content', utm_term: 'campaign_term',
};
/** Metrica accepts an event time up to 12 hours back, GA4 up to 72: older ones are sent as "now". */
const METRICA_BACKDATE_MS = 11 * 3600_000;
const GA4_BACKDATE_MS = 71 * 3600_000;
const TIMEOUT_MS = 10_000;

type EventRow = {
  id: number; user_id: number; event: AnalyticsEvent; entity: string; value_kopecks: number | null; occurred_at: Date;
  metrica_done_at: Date | null; ga4_done_at: Date | null;
};
type AttributionRow = {
  client_id: string; utm_source: string | null; utm_medium: string | null; utm_campaign: string | null; utm_content: string | null;
  utm_term: string | null; yclid: string | null; gclid: string | null; referrer_host: string | null;
};

/** A collector that answered 5xx or 429, or did not answer: the job is retried for this destination. */
class CollectorUnavailable extends Error {}

/** A Metrica-style client id: the time in seconds and nine random digits (Metrica's own ids have that shape). */
export function newClientId(now = new Date()): string {
  return `${Math.floor(now.getTime() / 1000)}${randomInt(100_000_000, 1_000_000_000)}`;
}

/** The customer's latest answer to the analytics consent is a grant. */
async function consented(db: Knex | Knex.Transaction, userId: number): Promise<boolean> {
  const row = await db('consent_events').where({ user_id: userId, document: 'analytics' }).orderBy('id', 'desc').first('action');
  return row?.action === 'grant';
}

export function createAnalyticsService({ db, jobs, config, logger }: {
  db: Knex; jobs: JobQueue; config: Pick<Config, 'analytics' | 'appUrl'>; logger: Logger;
}) {
  const { metrica, ga4, enabled } = config.analytics;

  /**
   * Records that `event` happened to the customer and queues its sending, in the caller's transaction. Does nothing
   * when analytics is not configured or the customer has no analytics consent; a repeat of the same (user, event,
   * entity) is ignored. Never throws for analytics' sake on the caller's path and never waits on a collector.
   */
  async function track(trx: Knex | Knex.Transaction, userId: number, event: AnalyticsEvent, options: TrackOptions = {}): Promise<void> {
    if (!enabled) return;
    if (!(await consented(trx, userId))) return;
    const entity = String(options.entity ?? '').slice(0, 100);
    const inserted: { id: number }[] = await trx('analytics_events')
      .insert({ user_id: userId, event, entity, value_kopecks: options.valueKopecks ?? null })
      .onConflict(['user_id', 'event', 'entity']).ignore().returning('id');
    if (inserted.length === 0) return;
    // A customer from before attribution was kept gets a client id now (nothing else is known of their first touch).
    await trx('user_attribution').insert({ user_id: userId, client_id: newClientId() }).onConflict('user_id').ignore();
    await jobs.add(trx, ANALYTICS_SEND, { id: Number(inserted[0]!.id) }, { jobKey: `analytics:${userId}:${event}:${entity}`, maxAttempts: 10 });
  }

  async function post(url: string, init: RequestInit, what: string): Promise<void> {
    let status: number;
    try {
      const response = await fetch(url, { ...init, signal: AbortSignal.timeout(TIMEOUT_MS) });
      status = response.status;
      await response.arrayBuffer().catch(() => undefined);
    } catch (error) {
      throw new CollectorUnavailable(`${what}: ${(error as Error).message}`);
    }
    if (status >= 500 || status === 429) throw new CollectorUnavailable(`${what}: HTTP ${status}`);
    // Any other answer is final: sending the same request again would be answered the same way.
    if (status >= 300) logger.warn({ status, collector: what }, 'analytics: the collector refused an event; it is not sent again');
  }

  function metricaRequests(row: EventRow, a: AttributionRow): URLSearchParams[] {
    const m = metrica!;
    const tags = new URLSearchParams();
    for (const tag of [...UTM, 'yclid'] as const) if (a[tag]) tags.set(tag, a[tag]);
    const dl = `${config.appUrl}${PAGES[row.event]}${tags.size ? `?${tags}` : ''}`;
    const et: Record<string, string> = Date.now() - row.occurred_at.getTime() < METRICA_BACKDATE_MS ? { et: String(Math.floor(row.occurred_at.getTime() / 1000)) } : {};
    const common = { tid: m.counterId, cid: a.client_id, ms: m.token };
    const pageview = new URLSearchParams({ ...common, t: 'pageview', dl, dr: a.referrer_host ? `https://${a.referrer_host}/` : '', dt: row.event, ...et });
    const event = new URLSearchParams({ ...common, t: 'event', ea: row.event, dl, ...et });
    if (row.value_kopecks !== null) event.set('params', JSON.stringify({ order_price: row.value_kopecks / 100, currency: 'RUB' }));
    return [pageview, event];
  }

  function ga4Body(row: EventRow, a: AttributionRow) {
    const params: Record<string, string | number> = { engagement_time_msec: 1 };
    for (const tag of UTM) if (a[tag]) params[GA4_CAMPAIGN[tag]] = a[tag];
    if (row.value_kopecks !== null) Object.assign(params, { value: row.value_kopecks / 100, currency: 'RUB' });
    const recent = Date.now() - row.occurred_at.getTime() < GA4_BACKDATE_MS;
    return { client_id: a.client_id, ...(recent ? { timestamp_micros: row.occurred_at.getTime() * 1000 } : {}), events: [{ name: row.event, params }] };
  }

  /** Stamps a destination as answered; the stamp is committed at once, so a later failure elsewhere keeps it. */
  const done = (id: number, column: 'metrica_done_at' | 'ga4_done_at') => db('analytics_events').where({ id }).update({ [column]: db.fn.now() });

  return {
    enabled,
    track,

    /**
     * At sign-up, in its transaction: keeps the first touch and a new client id with the account, then tracks
     * `sign_up` and `subscription_start` (a new subscription's first delivery is planned at sign-up).
     */
    async signedUp(trx: Knex.Transaction, userId: number, attribution: Attribution | null, subscriptionKopecks: number): Promise<void> {
      await trx('user_attribution').insert({
        user_id: userId, client_id: newClientId(),
        utm_source: attribution?.utm_source ?? null, utm_medium: attribution?.utm_medium ?? null, utm_campaign: attribution?.utm_campaign ?? null,
        utm_content: attribution?.utm_content ?? null, utm_term: attribution?.utm_term ?? null, yclid: attribution?.yclid ?? null,
        gclid: attribution?.gclid ?? null, referrer_host: attribution?.referrerHost ?? null, landing_path: attribution?.landingPath ?? null,
        first_seen_at: attribution?.firstSeenAt ?? null,
      });
      await track(trx, userId, 'sign_up');
      await track(trx, userId, 'subscription_start', { valueKopecks: subscriptionKopecks });
    },

    /** Job: sends one recorded event to each configured destination that has not answered it yet. */
    async send(id: number): Promise<'sent' | 'skipped'> {
      const row: EventRow | undefined = await db('analytics_events').where({ id }).first();
      if (!row || !enabled) return 'skipped';
      if (!(await consented(db, row.user_id))) {
        logger.info({ analyticsEvent: id }, 'analytics: consent withdrawn, the event is not sent');
        return 'skipped';
      }
      const a: AttributionRow | undefined = await db('user_attribution').where({ user_id: row.user_id }).first();
      if (!a) return 'skipped';
      const failures: string[] = [];
      if (metrica && !row.metrica_done_at) {
        try {
          for (const body of metricaRequests(row, a)) {
            await post(metrica.endpoint, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body }, 'metrica');
          }
          await done(id, 'metrica_done_at');
        } catch (error) {
          if (!(error instanceof CollectorUnavailable)) throw error;
          failures.push(error.message);
        }
      }
      if (ga4 && !row.ga4_done_at) {
        try {
          const url = `${ga4.endpoint}/mp/collect?${new URLSearchParams({ measurement_id: ga4.measurementId, api_secret: ga4.apiSecret })}`;
          await post(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ga4Body(row, a)) }, 'ga4');
          await done(id, 'ga4_done_at');
        } catch (error) {
          if (!(error instanceof CollectorUnavailable)) throw error;
          failures.push(error.message);
        }
      }
      if (failures.length) throw new Error(`analytics: collector unavailable, retried later (${failures.join('; ')})`);
      return 'sent';
    },

    /**
     * Metrica's offline-conversion upload (columns Yclid, Target, DateTime as unix seconds, Price, Currency): the
     * events of the last 90 days of customers who came from a Yandex Direct click and whose analytics consent stands.
     */
    async conversionsCsv(now = new Date()): Promise<string> {
      const { rows } = await db.raw(`select a.yclid, e.event, floor(extract(epoch from e.occurred_at))::bigint as at, e.value_kopecks
        from user_attribution a
        join analytics_events e on e.user_id = a.user_id
        where a.yclid is not null and e.occurred_at >= ?::timestamptz - interval '90 days'
          and (select c.action from consent_events c where c.user_id = a.user_id and c.document = 'analytics' order by c.id desc limit 1) = 'grant'
        order by e.occurred_at, e.id`, [now.toISOString()]);
      const lines = ['Yclid,Target,DateTime,Price,Currency'];
      for (const r of rows as { yclid: string; event: string; at: string; value_kopecks: string | null }[]) {
        const price = r.value_kopecks === null ? '' : (Number(r.value_kopecks) / 100).toFixed(2);
        lines.push([csvCell(r.yclid), r.event, String(r.at), price, price ? 'RUB' : ''].join(','));
      }
      return `${lines.join('\r\n')}\r\n`;
    },
  };
}
export type AnalyticsService = ReturnType<typeof createAnalyticsService>;

/** A CSV cell: quoted when it holds a comma, a quote or a line break; a leading = + - @ is defused for spreadsheets. */
function csvCell(value: string): string {
  const safe = /^[=+\-@]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}
