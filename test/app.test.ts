import { randomBytes } from 'node:crypto';
import pg from 'pg';
import request from 'supertest';
import { expect } from 'chai';
import { createTestApp, type TestApp } from './helpers/app.js';
import { testDatabase, withDatabase } from './helpers/db.js';
import { createTcpProxy } from './helpers/proxy.js';
import { pageProblems } from './helpers/pages.js';

describe('the site shell', () => {
  let t: TestApp;
  before(() => { t = createTestApp(); });
  after(() => t.close());

  describe('GET /', () => {
    it('when a visitor arrives, then a Russian landing page lists the three categories with their prices', async () => {
      const res = await request(t.app).get('/').expect(200).expect('Content-Type', /text\/html/);
      expect(res.text).to.include('<html lang="ru">');
      expect(res.text).to.include('Букеты по подписке');
      expect(res.text).to.match(/Романтический[\s\S]*4\u00a0500\u00a0₽ за букет/);
      expect(res.text).to.match(/Сезонный[\s\S]*5\u00a0000\u00a0₽ за букет/);
      expect(res.text).to.match(/Люкс[\s\S]*9\u00a0000\u00a0₽ за букет/);
      expect(res.text).to.include('href="/signup"').and.include('href="/login"');
      expect(res.text).not.to.match(/<script/i);
      expect(await pageProblems(res.text)).to.deep.equal([]);
    });

    it('when ?lang=en is asked, then the page is English and the choice is remembered in a cookie', async () => {
      const agent = request.agent(t.app);
      const first = await agent.get('/?lang=en').expect(200);
      expect(first.text).to.include('<html lang="en">').and.include('Bouquets by subscription');
      expect(first.headers['set-cookie']?.[0]).to.match(/^lang=en;.*HttpOnly/);
      const next = await agent.get('/').expect(200);
      expect(next.text).to.include('<html lang="en">');
      const back = await agent.get('/?lang=ru').expect(200);
      expect(back.text).to.include('<html lang="ru">');
    });

    it('when the language link is followed, then the same page comes back with its query string', async () => {
      const res = await request(t.app).get('/?date=2026-12-01&lang=ru').expect(200);
      expect(res.text).to.include('href="/?date=2026-12-01&amp;lang=en"');
    });

    it('when the browser prefers English and nothing was chosen, then English is served; unknown languages fall back to Russian', async () => {
      const en = await request(t.app).get('/').set('Accept-Language', 'en-US,en;q=0.9').expect(200);
      expect(en.text).to.include('<html lang="en">');
      const de = await request(t.app).get('/').set('Accept-Language', 'de-DE').expect(200);
      expect(de.text).to.include('<html lang="ru">');
      expect(de.headers.vary).to.include('Accept-Language');
    });

    it('sends the security headers with the site CSP', async () => {
      const res = await request(t.app).get('/').expect(200);
      expect(res.headers['content-security-policy']).to.equal(
        "default-src 'none';style-src 'self';img-src 'self';form-action 'self';frame-ancestors 'none';base-uri 'none';object-src 'none'");
      expect(res.headers['x-frame-options']).to.equal('DENY');
      expect(res.headers['referrer-policy']).to.equal('no-referrer');
      expect(res.headers['x-content-type-options']).to.equal('nosniff');
      expect(res.headers).not.to.have.property('x-powered-by');
      expect(res.headers).not.to.have.property('strict-transport-security');
    });
  });

  describe('the stylesheet', () => {
    it('is linked under a content-hash name and cached for a year', async () => {
      const page = await request(t.app).get('/').expect(200);
      const href = /<link rel="stylesheet" href="(\/css\/site\.[0-9a-f]{10}\.css)">/.exec(page.text)?.[1];
      expect(href).to.be.a('string');
      const css = await request(t.app).get(href!).expect(200).expect('Content-Type', /text\/css/);
      expect(css.headers['cache-control']).to.equal('public, max-age=31536000, immutable');
      expect(css.text).to.include(':root');
    });

    it('serves the favicon', async () => {
      await request(t.app).get('/favicon.ico').expect(200);
    });
  });

  describe('errors', () => {
    it('when a page does not exist, then a Russian 404 page is shown', async () => {
      const res = await request(t.app).get('/no/such/page').expect(404);
      expect(res.text).to.include('Страница не найдена');
      expect(await pageProblems(res.text)).to.deep.equal([]);
    });

    it('when the code fails, then a Russian 500 page shows neither stack nor message, and the log has the error', async () => {
      // A database without the schema makes the landing page's query fail for real.
      const name = `flowers_empty_${randomBytes(3).toString('hex')}`;
      const admin = new pg.Client({ connectionString: testDatabase().serverUrl });
      await admin.connect();
      await admin.query(`create database ${name}`);
      const broken = createTestApp({ databaseUrl: withDatabase(testDatabase().serverUrl, name) });
      try {
        const res = await request(broken.app).get('/').expect(500);
        expect(res.text).to.include('Что-то пошло не так');
        expect(res.text).not.to.match(/bouquet_categories|relation|at .*\.ts|Error:/);
        expect(broken.logs.join('')).to.include('bouquet_categories');
        expect(await pageProblems(res.text)).to.deep.equal([]);
      } finally {
        await broken.close();
        await admin.query(`drop database ${name} with (force)`);
        await admin.end();
      }
    });
  });

  describe('GET /healthz and database outages', () => {
    it('when the database answers, then 200 ok', async () => {
      const res = await request(t.app).get('/healthz').expect(200);
      expect(res.text).to.equal('ok');
    });

    it('when the database becomes unreachable, then pages answer 503 and /healthz 503; when it returns, both recover', async () => {
      const target = new URL(testDatabase().url);
      const proxy = await createTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
      const viaProxy = new URL(testDatabase().url);
      viaProxy.hostname = '127.0.0.1';
      viaProxy.port = String(proxy.port);
      const app = createTestApp({ databaseUrl: viaProxy.toString() });
      try {
        await request(app.app).get('/').expect(200);
        await proxy.cut();
        await request(app.app).get('/').expect(200); // a visitor's page kept in memory needs no database
        const down = await request(app.app).get('/reset-password?token=abc').expect(503); // this one writes a session
        expect(down.text).to.include('Сервис временно недоступен');
        expect(down.headers['retry-after']).to.equal('30');
        await request(app.app).get('/healthz').expect(503);
        await proxy.restore();
        await request(app.app).get('/').expect(200);
        await request(app.app).get('/healthz').expect(200, 'ok');
      } finally {
        await app.close();
        await proxy.cut();
      }
    });
  });

  describe('request logs', () => {
    it('when a request is served, then one JSON line carries its id, also sent as X-Request-Id, with secrets masked', async () => {
      const res = await request(t.app).get('/reset-password?token=SECRET-TOKEN-VALUE&lang=ru').set('Cookie', 'sid=COOKIE-VALUE').expect(303);
      const id = res.headers['x-request-id'];
      expect(id).to.match(/^[0-9a-f-]{36}$/);
      const line = t.logs.map((l) => JSON.parse(l)).find((l) => l.req?.id === id);
      expect(line.req.url).to.equal('/reset-password?token=[redacted]&lang=ru');
      expect(line.res.statusCode).to.equal(303);
      expect(t.logs.join('')).not.to.include('SECRET-TOKEN-VALUE').and.not.to.include('COOKIE-VALUE');
    });
  });
});
