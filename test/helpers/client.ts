// Drives the app like a browser would: an agent with its own cookies and its own client IP (through
// X-Forwarded-For, trusted from loopback), forms filled from the page's own CSRF token
// where the form carries one.
import { randomBytes, randomInt } from 'node:crypto';
import request from 'supertest';
import type { Express } from 'express';
import { todayIn } from '../../src/i18n/i18n.js';

export type Agent = ReturnType<typeof request.agent>;

export function randomIp(): string {
  return `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`;
}

export function client(app: Express, ip = randomIp()): Agent {
  return request.agent(app).set('X-Forwarded-For', ip);
}

export function uniqueEmail(prefix = 'customer'): string {
  return `${prefix}-${randomBytes(5).toString('hex')}@example.ru`;
}

/**
 * The form's CSRF token. The forms used before login carry none (S14: the cross-origin check alone), so for a
 * page without a token this is '' — which a logged-in form refuses, so a missing token there still fails a test.
 */
export function csrfFrom(html: string): string {
  return /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
}

/** GETs the form page, then POSTs the fields with the page's CSRF token. */
export async function submit(agent: Agent, formPath: string, fields: Record<string, string | string[]>, postPath = formPath.split('?')[0]!) {
  const page = await agent.get(formPath);
  return agent.post(postPath).type('form').send({ _csrf: csrfFrom(page.text), ...fields });
}

export function daysFromToday(days: number, timeZone = 'Europe/Moscow'): string {
  const today = todayIn(timeZone);
  const d = new Date(`${today}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

export const GOOD_PASSWORD = 'Tyulpany v marte 2026';

export function signupFields(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    email: uniqueEmail(), password: GOOD_PASSWORD, bouquet: 'seasonal', address: 'ул. Ленина, 25, кв. 10',
    deliveryDate: daysFromToday(7), interval: 'weekly', wishes: 'Больше зелени, без роз', consentPersonalData: 'yes', ...overrides,
  };
}

/** Signs up through the real form; the agent ends up logged in. */
export async function signUp(agent: Agent, overrides: Record<string, string> = {}) {
  const fields = signupFields(overrides);
  const res = await submit(agent, '/signup', fields);
  if (res.status !== 303) throw new Error(`sign-up failed with ${res.status}: ${res.text.slice(0, 500)}`);
  return { email: fields.email!, password: fields.password!, fields };
}

/** Logs in through the real form. */
export function logIn(agent: Agent, email: string, password: string, extra: Record<string, string> = {}) {
  return submit(agent, '/login', { email, password, ...extra });
}

export function sessionCookie(res: { headers: Record<string, unknown> }): string | undefined {
  const cookies = (res.headers['set-cookie'] as string[] | undefined) ?? [];
  return cookies.find((c) => /^(sid|__Host-sid)=/.test(c));
}

/** The `sid=…` cookie an agent holds now (development cookie name, as in the tests). */
export function agentCookie(agent: Agent): string {
  const cookie = agent.jar.getCookie('sid', { domain: '127.0.0.1', path: '/', secure: false, script: false });
  if (!cookie) throw new Error('the agent holds no session cookie');
  return cookie.toValueString();
}

/** The session id inside a signed session cookie (`s:<id>.<signature>`). */
export function sessionIdOf(setCookie: string | undefined): string {
  const value = decodeURIComponent(/^[^=]+=([^;]*)/.exec(setCookie ?? '')?.[1] ?? '');
  if (!value.startsWith('s:')) throw new Error(`not a signed session cookie: ${setCookie}`);
  return value.slice(2, value.lastIndexOf('.'));
}
