import type { Knex } from 'knex';

/** The campaign and referrer of the customer's first visit (kept at sign-up), by the names amoCRM's tracking fields have. */
export type FirstTouch = {
  utmSource: string | null; utmMedium: string | null; utmCampaign: string | null; utmContent: string | null; utmTerm: string | null;
  referrer: string | null; yclid: string | null; gclid: string | null;
};

export function createUserAttributionModel(db: Knex | Knex.Transaction) {
  return {
    async firstTouch(userId: number): Promise<FirstTouch | null> {
      const a = await db('user_attribution').where({ user_id: userId }).first('utm_source', 'utm_medium', 'utm_campaign', 'utm_content', 'utm_term', 'yclid', 'gclid', 'referrer_host');
      if (!a) return null;
      return {
        utmSource: a.utm_source, utmMedium: a.utm_medium, utmCampaign: a.utm_campaign, utmContent: a.utm_content, utmTerm: a.utm_term,
        referrer: a.referrer_host, yclid: a.yclid, gclid: a.gclid,
      };
    },
  };
}
