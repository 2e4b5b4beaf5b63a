import { expect } from 'chai';
import { createCountingTestApp, createTestApp, type TestApp } from '../helpers/app.js';
import { agentCookie, client, sessionCookie, sessionIdOf, signUp } from '../helpers/client.js';

const VISITOR_PAGES = ['/', '/signup', '/login', '/login/code', '/forgot-password', '/forgot-password/sent', '/privacy', '/consent/personal-data', '/consent/marketing', '/consent/analytics'];

describe('visitor pages served from memory (S12, S14, S15)', () => {
  let t: TestApp;
  let queries = 0;
  const countQueries = () => { queries++; };
  before(() => {
    t = createTestApp();
    t.db.on('query', countQueries);
  });
  after(async () => {
    t.db.off('query', countQueries);
    await t.close();
  });

  it('a visitor gets the same page and headers from memory, without a session or a database query, with a request id of its own', async () => {
    for (const path of VISITOR_PAGES) {
      const first = await client(t.app).get(path).expect(200);
      queries = 0;
      const again = await client(t.app).get(path).expect(200);
      expect(queries, `${path}: database queries when served from memory`).to.equal(0);
      expect(again.text, path).to.equal(first.text);
      for (const name of ['content-type', 'cache-control', 'vary', 'content-security-policy', 'x-frame-options', 'referrer-policy', 'x-content-type-options', 'etag']) {
        expect(again.headers[name], `${path} ${name}`).to.equal(first.headers[name]);
      }
      expect(again.headers['content-security-policy']).to.include("default-src 'none'");
      expect(again.headers['x-request-id']).to.match(/^[0-9a-f-]{36}$/).and.not.equal(first.headers['x-request-id']);
      expect(again.headers['set-cookie'], path).to.equal(undefined);
      expect(Number(again.headers['content-length'])).to.equal(Buffer.byteLength(again.text));
    }
    for (const path of ['/signup', '/login', '/login/code', '/forgot-password']) {
      expect((await client(t.app).get(path)).headers['cache-control'], path).to.equal('no-store'); // the browser does not keep it (S15)
    }
  });

  it('a page served from memory is not rendered again (Express\'s own render is counted)', async () => {
    const { t: counted, renders } = createCountingTestApp();
    try {
      for (const path of VISITOR_PAGES) {
        renders.count = 0;
        await client(counted.app).get(path).expect(200);
        expect(renders.count, `${path}: the first request renders it`).to.equal(1);
        await client(counted.app).get(path).expect(200);
        expect(renders.count, `${path}: renders when served from memory`).to.equal(1);
      }
      await client(counted.app).get('/login?next=%2Faccount').expect(200);
      expect(renders.count, 'a query string takes the full path').to.equal(2);
    } finally {
      await counted.close();
    }
  });

  it('each language has its own page: from the lang cookie, from Accept-Language, Russian by default', async () => {
    for (let round = 0; round < 2; round++) {
      const ru = await client(t.app).get('/login').expect(200);
      const byCookie = await client(t.app).get('/login').set('Cookie', 'lang=en').expect(200);
      const byHeader = await client(t.app).get('/login').set('Accept-Language', 'en-GB,en;q=0.9').expect(200);
      expect(ru.text).to.include('<html lang="ru"');
      expect(byCookie.text).to.include('<html lang="en"');
      expect(byHeader.text).to.include('<html lang="en"');
    }
  });

  it('a logged-in customer gets what they got before: /login sends them on, the home page shows their account', async () => {
    await client(t.app).get('/login').expect(200);
    await client(t.app).get('/').expect(200);
    const customer = client(t.app);
    await signUp(customer);
    const login = await customer.get('/login').expect(303);
    expect(login.headers.location).to.equal('/account');
    const home = await customer.get('/').expect(200);
    expect(home.text).to.include('action="/logout"').and.include('name="_csrf"');
    expect(home.headers['cache-control']).to.equal('no-store');
  });

  it('a query string or a session cookie takes the full path: ?next= is kept, a notice waiting in the session is shown once', async () => {
    await client(t.app).get('/login').expect(200);
    const withNext = await client(t.app).get('/login?next=%2Faccount%2Fpreferences').expect(200);
    expect(withNext.text).to.include('action="/login?next=%2Faccount%2Fpreferences"');
    const english = await client(t.app).get('/?lang=en').expect(200);
    expect(english.text).to.include('<html lang="en"');
    expect(english.headers['set-cookie']?.[0]).to.match(/^lang=en;/);

    // A visitor with a session (here a reset link moved out of the URL) and a notice in it.
    const visitor = client(t.app);
    const moved = await visitor.get('/reset-password?token=abcdef').expect(303);
    const sid = sessionIdOf(sessionCookie(moved));
    const row = await t.db('session').where({ sid }).first('sess');
    const sess = typeof row.sess === 'string' ? JSON.parse(row.sess) : row.sess;
    await t.db('session').where({ sid }).update({ sess: JSON.stringify({ ...sess, flash: 'flash.email_changed' }) });
    expect(agentCookie(visitor)).to.include('s%3A');
    const shown = await visitor.get('/login').expect(200);
    expect(shown.text).to.include('Email изменён.');
    expect((await visitor.get('/login').expect(200)).text).not.to.include('Email изменён.');
    expect((await client(t.app).get('/login').expect(200)).text).not.to.include('Email изменён.');
  });
});
