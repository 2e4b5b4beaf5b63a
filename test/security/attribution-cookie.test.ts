// The first-party attribution cookie: its flags, first touch wins, anything not ours is ignored, and the page cache
// neither stores it nor hands one visitor's cookie to another.
import { expect } from 'chai';
import express from 'express';
import request from 'supertest';
import { createAttribution } from '../../src/middleware/attribution.js';
import { createCountingTestApp, createTestApp, type TestApp } from '../helpers/app.js';
import { client, signUp } from '../helpers/client.js';

const attributionCookie = (res: { headers: Record<string, unknown> }) =>
  ((res.headers['set-cookie'] as string[] | undefined) ?? []).find((c) => /^(ft|__Host-ft)=/.test(c));

describe('first-party attribution cookie', () => {
  let t: TestApp;
  before(() => { t = createTestApp(); });
  after(() => t.close());

  const attributionOf = async (email: string) => {
    const { id } = await t.db('users').whereRaw('lower(email) = ?', [email.toLowerCase()]).first('id');
    return t.db('user_attribution').where({ user_id: id })
      .first('utm_source', 'utm_medium', 'utm_campaign', 'utm_content', 'utm_term', 'yclid', 'gclid', 'referrer_host', 'landing_path', 'first_seen_at', 'client_id');
  };

  it('is set on a first visit with UTM tags, yclid, gclid or another site\'s Referer: HttpOnly, SameSite=Lax, 90 days, no personal data', async () => {
    const res = await client(t.app).get('/signup?utm_source=yandex&utm_medium=cpc&utm_campaign=may&utm_content=a&utm_term=roses&yclid=123&gclid=g-1')
      .set('Referer', 'https://ya.ru/search?text=ivan%40mail.ru').expect(200);
    const cookie = attributionCookie(res)!;
    expect(cookie).to.match(/^ft=[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}; Max-Age=7776000; Path=\/; Expires=[^;]+; HttpOnly; SameSite=Lax$/);
    const body = Buffer.from(cookie.slice(3, cookie.indexOf('.')), 'base64url').toString('utf8');
    expect(body).not.to.include('ivan').and.not.to.include('search');
    expect(attributionCookie(await client(t.app).get('/').set('Referer', 'https://vk.com/feed').expect(200))).to.match(/^ft=/);
    expect(attributionCookie(await client(t.app).get('/login?gclid=xyz').expect(200))).to.match(/^ft=/);
    // Nothing to record: no cookie. Our own site as Referer is not a source.
    expect(attributionCookie(await client(t.app).get('/').expect(200))).to.equal(undefined);
    expect(attributionCookie(await client(t.app).get('/').set('Referer', 'http://127.0.0.1:3999/login').expect(200))).to.equal(undefined);
    expect(attributionCookie(await client(t.app).get('/?lang=en').expect(200))).to.equal(undefined);
    // An odd path with tags is no error.
    expect((await client(t.app).get('//[?utm_source=a').set('Referer', 'https://vk.com/')).status).to.be.below(500);
  });

  it('is Secure with the __Host- prefix in production, like the session cookie', async () => {
    const attribution = createAttribution({ secret: 's'.repeat(40), production: true, appUrl: 'https://flowers.example' });
    const app = express().use(attribution.middleware).get('/', (_req, res) => { res.send('ok'); });
    const res = await request(app).get('/?utm_source=x').expect(200);
    expect(attributionCookie(res)).to.match(/^__Host-ft=[^;]+; Max-Age=7776000; Path=\/; Expires=[^;]+; HttpOnly; Secure; SameSite=Lax$/);
  });

  it('first touch wins: a later campaign neither replaces the cookie nor what sign-up stores', async () => {
    const agent = client(t.app);
    await agent.get('/?utm_source=first&yclid=111').expect(200);
    const later = await agent.get('/?utm_source=second&yclid=222').set('Referer', 'https://google.com/').expect(200);
    expect(attributionCookie(later)).to.equal(undefined);
    const { email } = await signUp(agent);
    const stored = await attributionOf(email);
    expect(stored).to.include({ utm_source: 'first', yclid: '111', utm_medium: null, gclid: null, referrer_host: null, landing_path: '/' });
    expect(stored.first_seen_at).to.be.instanceOf(Date);
    expect(stored.client_id).to.match(/^\d{19}$/);
  });

  it('a cookie that is not ours (forged, tampered, overlong, malformed) is ignored at sign-up and replaced by a real first touch', async () => {
    const genuine = attributionCookie(await client(t.app).get('/?utm_source=real').expect(200))!.split(';')[0]!.slice(3);
    const [body, signature] = genuine.split('.');
    const forgedBody = Buffer.from('t=1700000000&p=/&utm_source=forged&yclid=999', 'utf8').toString('base64url');
    for (const garbage of [`${forgedBody}.${signature}`, `${body}x.${signature}`, 'garbage', `${'a'.repeat(3000)}.${signature}`, '%00%ff.', '.']) {
      const agent = client(t.app);
      agent.jar.setCookie(`ft=${garbage}; Path=/`, '127.0.0.1', '/');
      const { email } = await signUp(agent);
      expect(await attributionOf(email), garbage.slice(0, 40)).to.include({ utm_source: null, yclid: null, landing_path: null });
    }
    // A value breaking the rules (control characters, over 100 characters) is left out; the rest is kept.
    const agent = client(t.app);
    agent.jar.setCookie('ft=garbage; Path=/', '127.0.0.1', '/');
    const replaced = await agent.get(`/?utm_source=ok&utm_term=${'x'.repeat(101)}&utm_content=a%0Ab`).expect(200);
    expect(attributionCookie(replaced)).to.match(/^ft=/);
    const { email } = await signUp(agent);
    expect(await attributionOf(email)).to.include({ utm_source: 'ok', utm_term: null, utm_content: null });
  });

  it('stays within a cookie\'s size with long Cyrillic tags, keeping the click ids and leaving out the least telling tags', async () => {
    const long = encodeURIComponent('я'.repeat(100));
    const agent = client(t.app);
    const res = await agent.get(`/?utm_source=${long}&utm_medium=${long}&utm_campaign=${long}&utm_content=${long}&utm_term=${long}&yclid=${'7'.repeat(30)}&gclid=g`).expect(200);
    const cookie = attributionCookie(res)!;
    expect(cookie.split(';')[0]!.length).to.be.at.most(1503);
    const { email } = await signUp(agent);
    expect(await attributionOf(email)).to.include({ yclid: '7'.repeat(30), gclid: 'g', utm_term: null, utm_content: null });
  });

  it('the page cache stores no visitor\'s cookie and gives none to another visitor; a cached page still carries the visitor\'s own', async () => {
    const { t: fresh, renders } = createCountingTestApp();
    try {
      // The first request of the page is a miss, rendered for a visitor from another site: their cookie only.
      const first = await client(fresh.app).get('/login').set('Referer', 'https://vk.com/').expect(200);
      expect(attributionCookie(first)).to.match(/^ft=/);
      expect(renders.count).to.equal(1);
      // Stored without it: the next visitor gets the page from memory, with no cookie at all.
      const next = await client(fresh.app).get('/login').expect(200);
      expect(renders.count, 'served from memory').to.equal(1);
      expect(next.headers['set-cookie']).to.equal(undefined);
      expect(next.text).to.equal(first.text);
      // A visitor from another site on a cached page: their own new cookie, not the first visitor's.
      const third = await client(fresh.app).get('/login').set('Referer', 'https://ok.ru/').expect(200);
      expect(renders.count, 'still served from memory').to.equal(1);
      const cookie = attributionCookie(third)!;
      expect(cookie).to.match(/^ft=/).and.not.equal(attributionCookie(first));
      expect(Buffer.from(cookie.slice(3, cookie.indexOf('.')), 'base64url').toString()).to.include('r=ok.ru');
      expect(third.text).to.equal(first.text);
      expect((await client(fresh.app).get('/login').expect(200)).headers['set-cookie']).to.equal(undefined);
    } finally {
      await fresh.close();
    }
  });
});
