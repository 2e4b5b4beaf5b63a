// amoCRM webhooks arrive form-encoded in PHP's bracket style (`leads[status][0][id]=…`), parsed by the body
// parser into nested objects. This reads the lead ids out of them; anything else is a malformed delivery.

export type ParsedWebhook = { accountId: string | null; leadIds: number[]; events: string[] };

const LEAD_EVENTS = ['add', 'update', 'status', 'delete', 'restore', 'responsible', 'note'];

function list(value: unknown): Record<string, unknown>[] {
  if (Array.isArray(value)) return value.filter((v): v is Record<string, unknown> => Boolean(v) && typeof v === 'object');
  if (value && typeof value === 'object') return Object.values(value).filter((v): v is Record<string, unknown> => Boolean(v) && typeof v === 'object');
  return [];
}

/** The lead ids and events of a delivery, or null when it is not an amoCRM lead webhook. */
export function parseWebhook(body: unknown): ParsedWebhook | null {
  if (!body || typeof body !== 'object') return null;
  const b = body as Record<string, unknown>;
  const leads = b.leads;
  if (!leads || typeof leads !== 'object' || Array.isArray(leads)) return null;
  const ids = new Set<number>();
  const events: string[] = [];
  for (const [event, items] of Object.entries(leads as Record<string, unknown>)) {
    if (!LEAD_EVENTS.includes(event)) continue;
    for (const item of list(items)) {
      const id = Number(item.id);
      if (!Number.isSafeInteger(id) || id <= 0) return null;
      ids.add(id);
      events.push(`${event}_lead`);
    }
  }
  if (!ids.size) return null;
  const account = b.account && typeof b.account === 'object' ? (b.account as Record<string, unknown>) : {};
  return { accountId: typeof account.id === 'string' ? account.id : null, leadIds: [...ids], events };
}
