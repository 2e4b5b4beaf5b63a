// The nginx site (deploy/nginx/flowers.conf) in front of two production processes, over real TLS with a
// self-signed certificate on loopback: redirect, HSTS, the __Host- session cookie, gzip, caching of the
// fingerprinted stylesheet, the body limit, secret-free access logs, and trust proxy giving rate limits the
// client's address (clients bind different 127.x addresses, so nginx sees different clients).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { freePort } from '../../src/embedded-postgres.js';
import { testDatabase } from '../helpers/db.js';
import { smtpUrl } from '../helpers/smtp.js';
import { waitFor } from '../helpers/wait.js';
import { daysFromToday, uniqueEmail } from '../helpers/client.js';
import { Browser, csrfFrom, httpRequest } from './helpers/http.js';
import { startNginx, SERVER_NAME, type Nginx } from './helpers/nginx.js';
import { envFromExample, ROOT, startAppProcess, startSimulator, type AppProcess } from './helpers/processes.js';

const HSTS = 'max-age=63072000; includeSubDomains';
const PASSWORD = 'Tyulpany v marte 2026';

describe('nginx site (deploy/nginx/flowers.conf) in front of the production build', function () {
  this.timeout(120_000);
  let dir: string;
  let sim: Awaited<ReturnType<typeof startSimulator>>;
  let nginx: Nginx;
  let apps: AppProcess[] = [];
  let webhookSecret: string;
  const db = () => testDatabase().db;
  const visitor = (localAddress = '127.0.0.1') => new Browser({ ca: nginx.ca, servername: SERVER_NAME, localAddress });
  const get = (p: string, o: Parameters<typeof httpRequest>[1] = {}) => httpRequest(`${nginx.httpsUrl}${p}`, { ca: nginx.ca, servername: SERVER_NAME, ...o });

  before(async () => {
    if (!existsSync(path.join(ROOT, 'dist', 'src', 'server.js'))) throw new Error('no production build: run "npm run build" (npm run test:deploy does)');
    dir = mkdtempSync(path.join(os.tmpdir(), 'flowers-nginx-test-'));
    sim = await startSimulator();
    webhookSecret = 'nginx-test-webhook-secret-0123456789abcdefghij';
    const env = envFromExample({
      APP_URL: `https://${SERVER_NAME}`, DATABASE_URL: testDatabase().url, SESSION_SECRET: 'nginx-test-session-secret-0123456789abcdefghij',
      SMTP_URL: smtpUrl(), AMOCRM_BASE_URL: sim.url, AMOCRM_LONG_LIVED_TOKEN: sim.token, AMOCRM_WEBHOOK_SECRET: webhookSecret,
    });
    const ports = [await freePort(), await freePort()];
    apps = await Promise.all(ports.map((port) => startAppProcess({ port, env, mode: 'unit' })));
    nginx = await startNginx({ upstreamPorts: ports });
  });

  after(async () => {
    await nginx?.stop();
    for (const app of apps) expect(await app.stop(), app.output()).to.equal(0);
    await sim?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('when checked with nginx -t inside Debian\'s nginx.conf, then it passes without a warning', () => {
    const result = nginx.configTest();
    expect(result.code, result.output).to.equal(0);
    expect(result.output).to.include('test is successful');
    expect(result.output).to.not.match(/\[(warn|emerg|alert|crit)\]/);
  });

  it('when the machine-wide paths of the site file are those of Debian\'s nginx package, then they exist there', () => {
    // The test moves these into a temporary folder; on the server their parents must already exist.
    for (const p of ['/var/lib/nginx', '/var/log/nginx', '/etc/nginx/mime.types', '/etc/nginx/sites-enabled']) expect(existsSync(p), p).to.equal(true);
  });

  it('when a page is asked for over plain HTTP, then 301 to the same path on https://<domain>; the ACME challenge stays on HTTP', async () => {
    const res = await httpRequest(`${nginx.httpUrl}/login?next=%2Faccount`, { headers: { host: SERVER_NAME } });
    expect(res.status).to.equal(301);
    expect(res.headers.location).to.equal(`https://${SERVER_NAME}/login?next=%2Faccount`);
    const evilHost = await httpRequest(`${nginx.httpUrl}/`, { headers: { host: 'evil.example' } });
    expect(evilHost.headers.location, 'the redirect never follows a forged Host').to.equal(`https://${SERVER_NAME}/`);
    const challenge = await httpRequest(`${nginx.httpUrl}/.well-known/acme-challenge/probe-token`, { headers: { host: SERVER_NAME } });
    expect(challenge.status).to.equal(200);
    expect(challenge.text).to.equal('probe-token.key-authorization');
  });

  it('when pages, the stylesheet, a 404 and a refused body are served over HTTPS, then each has exactly one HSTS header', async () => {
    const home = await get('/');
    const css = /<link rel="stylesheet" href="([^"]+)"/.exec(home.text)![1]!;
    const bigBody = 'x'.repeat(100 * 1024);
    const responses = {
      home, css: await get(css), missing: await get('/no/such/page'),
      tooBig: await get('/login', { method: 'POST', body: bigBody, headers: { 'content-type': 'application/x-www-form-urlencoded' } }),
    };
    expect(responses.home.status).to.equal(200);
    expect(responses.css.status).to.equal(200);
    expect(responses.missing.status).to.equal(404);
    expect(responses.tooBig.status, 'nginx refuses form bodies over 64 KB').to.equal(413);
    const webhook = await get(`/webhooks/amocrm/${'w'.repeat(40)}`, { method: 'POST', body: bigBody, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(webhook.status, 'a webhook of 100 KB reaches the app (which refuses the wrong secret)').to.equal(404);
    for (const [name, res] of Object.entries(responses)) expect(res.headers['strict-transport-security'], name).to.equal(HSTS);
  });

  it('when a visitor signs up and logs in through nginx, then the session cookie is __Host-sid, Secure, HttpOnly, SameSite=Lax, Path=/, without Domain', async () => {
    const browser = visitor();
    const page = await browser.get(`${nginx.httpsUrl}/signup`);
    expect(page.headers['set-cookie'] ?? [], 'reading the sign-up form sets no session (S12)').to.deep.equal([]);

    const email = uniqueEmail('nginx');
    const signup = await browser.post(`${nginx.httpsUrl}/signup`, {
      _csrf: csrfFrom(page.text), email, password: PASSWORD, bouquet: 'luxe', address: 'ул. Садовая, 3',
      deliveryDate: daysFromToday(5), interval: 'biweekly', wishes: 'Пионы', consentPersonalData: 'yes',
    });
    expect(signup.status, signup.text.slice(0, 300)).to.equal(303);
    expect(signup.headers.location).to.equal('/account');
    const setCookie = [signup.headers['set-cookie'] ?? []].flat().find((c) => c.startsWith('__Host-sid='));
    expect(setCookie, 'session cookie of the signed-up customer').to.be.a('string');
    const attributes = setCookie!.split(';').slice(1).map((a) => a.trim().toLowerCase());
    expect(attributes).to.include.members(['path=/', 'httponly', 'secure', 'samesite=lax']);
    expect(attributes.some((a) => a.startsWith('domain='))).to.equal(false);
    const account = await browser.get(`${nginx.httpsUrl}/account`);
    expect(account.status).to.equal(200);
    expect(account.text).to.include(email);

    // Without the proxy's X-Forwarded-Proto the app does not hand out its Secure cookie over plain HTTP.
    const direct = await httpRequest(`http://127.0.0.1:${apps[0]!.port}/reset-password?token=abc`); // a flow that keeps a session
    expect(direct.status).to.equal(303);
    expect(direct.headers['set-cookie'] ?? []).to.deep.equal([]);
  });

  it('when the main pages are fetched with Accept-Encoding: gzip, then HTML and CSS come compressed and each page with its stylesheet is ≤ 14 KB on the wire', async () => {
    const browser = visitor();
    await browser.submit(`${nginx.httpsUrl}/signup`, {
      email: uniqueEmail('weight'), password: PASSWORD, bouquet: 'seasonal', address: 'ул. Лесная, 7, кв. 2',
      deliveryDate: daysFromToday(2), interval: 'weekly', wishes: 'Без лилий', consentPersonalData: 'yes',
    }).then((r) => expect(r.status).to.equal(303));
    const gz = { 'accept-encoding': 'gzip' };
    const first = await browser.get(`${nginx.httpsUrl}/account`, { headers: gz });
    const cssPath = /<link rel="stylesheet" href="([^"]+)"/.exec(first.text)![1]!;
    const css = await get(cssPath, { headers: gz });
    expect(css.headers['content-encoding']).to.equal('gzip');
    expect(css.headers.vary).to.match(/Accept-Encoding/i);
    const weights: Record<string, number> = {};
    for (const p of ['/account', '/account/password', '/account/email']) {
      const res = await browser.get(`${nginx.httpsUrl}${p}`, { headers: gz });
      expect(res.status, p).to.equal(200);
      expect(res.headers['content-encoding'], p).to.equal('gzip');
      weights[p] = res.body.length + css.body.length;
    }
    for (const p of ['/', '/signup', '/login', '/forgot-password']) {
      const res = await get(p, { headers: gz });
      expect(res.status, p).to.equal(200);
      expect(res.headers['content-encoding'], p).to.equal('gzip');
      weights[p] = res.body.length + css.body.length;
    }
    for (const [p, bytes] of Object.entries(weights)) expect(bytes, `${p}: ${bytes} bytes`).to.be.at.most(14 * 1024);
    const plain = await get('/login');
    expect(plain.headers['content-encoding'], 'no gzip unless asked').to.equal(undefined);
  });

  it('when the fingerprinted stylesheet is asked for twice, then it is cached for a year (immutable) and the second answer comes from nginx; a wrong hash is a plain 404', async () => {
    const home = await get('/');
    const cssPath = /<link rel="stylesheet" href="([^"]+)"/.exec(home.text)![1]!;
    expect(cssPath).to.match(/^\/css\/site\.[0-9a-f]{10}\.css$/);
    const first = await get(cssPath);
    const second = await get(cssPath);
    for (const res of [first, second]) {
      expect(res.status).to.equal(200);
      expect(res.headers['content-type']).to.match(/^text\/css/);
      expect(res.headers['cache-control']).to.equal('public, max-age=31536000, immutable');
    }
    expect(second.headers['x-cache-status']).to.equal('HIT');
    expect(second.text).to.equal(first.text);
    const wrong = await get('/css/site.0123456789.css');
    expect(wrong.status).to.equal(404);
    expect(wrong.headers['cache-control']).to.not.match(/immutable/);
    const favicon = await get('/favicon.ico');
    expect(favicon.status).to.equal(200);
    expect(favicon.headers['cache-control']).to.match(/max-age=3600/);
  });

  it('when requests go through nginx, then both app processes serve them, and nginx logs the app\'s request id', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await get('/healthz');
      expect(res.text).to.equal('ok');
      ids.push(String(res.headers['x-request-id']));
    }
    const log = await waitFor(() => { const text = nginx.accessLog(); return ids.every((id) => text.includes(`rid=${id} `)) ? text : ''; }, 5000, 'request ids in the access log');
    const upstreams = new Set([...log.matchAll(/ (127\.0\.0\.1:\d+) \d{3}$/gm)].map((m) => m[1]));
    for (const app of apps) expect([...upstreams]).to.include(`127.0.0.1:${app.port}`);
  });

  it('when a client forges X-Forwarded-For, then the app still sees the address nginx saw: 10 failed logins from 127.0.0.2 give 429 to it, not to 127.0.0.3, and the audit trail names 127.0.0.2', async () => {
    const email = uniqueEmail('limits');
    const attacker = visitor('127.0.0.2');
    const token = csrfFrom((await attacker.get(`${nginx.httpsUrl}/login`)).text);
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) {
      const res = await attacker.post(`${nginx.httpsUrl}/login`, { _csrf: token, email, password: `Wrong password ${i}` }, {
        headers: { 'x-forwarded-for': `203.0.113.${i + 1}`, 'x-real-ip': `198.51.100.${i + 1}` },
      });
      statuses.push(res.status);
    }
    expect(statuses).to.deep.equal([...Array(10).fill(401), 429]);

    const neighbour = visitor('127.0.0.3');
    const page = await neighbour.get(`${nginx.httpsUrl}/login`);
    const other = await neighbour.post(`${nginx.httpsUrl}/login`, { _csrf: csrfFrom(page.text), email, password: 'Wrong password x' });
    expect(other.status, 'another client is not limited').to.equal(401);

    const keys = (await db()('rate_limits').select('key', 'hits').where('key', 'like', 'ip:login:%')).map((r: { key: string; hits: number }) => r);
    expect(keys.find((k) => k.key === 'ip:login:127.0.0.2')?.hits).to.equal(11);
    expect(keys.map((k) => k.key).filter((k) => /203\.0\.113|198\.51\.100/.test(k))).to.deep.equal([]);
    const ips = await db()('auth_events').where({ event: 'login_fail' }).whereIn('ip', ['127.0.0.2', '127.0.0.3']).select('ip');
    expect(ips.filter((r: { ip: string }) => r.ip === '127.0.0.2')).to.have.length(10);
    expect(ips.filter((r: { ip: string }) => r.ip === '127.0.0.3')).to.have.length(1);
  });

  it('when URLs carry secrets, then nginx\'s access log has the webhook secret and query strings masked', async () => {
    await get('/reset-password?token=SuperSecretResetToken0123456789abcdef');
    await get(`/webhooks/amocrm/${webhookSecret}`, { method: 'POST', body: 'leads[status][0][id]=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    // nginx writes the line when it finalises the request, which may be just after the client has the answer.
    const log = await waitFor(() => {
      const text = nginx.accessLog();
      return text.includes('/webhooks/') && text.includes('/reset-password') ? text : '';
    }, 5000, 'both requests in the access log');
    expect(log).to.include('"GET /reset-password?[query] HTTP/1.1"');
    expect(log).to.include('"POST /webhooks/amocrm/[redacted] HTTP/1.1"');
    expect(log).to.not.include('SuperSecretResetToken');
    expect(log).to.not.include(webhookSecret);
  });

  it('when one process does not know the stylesheet\'s name (mid-upgrade), then nginx asks the next one instead of answering 404', async () => {
    // The old release's name, known only to the process listed as backup; the first one answers 404 to everything.
    let refused = 0;
    const newRelease = http.createServer((_req, res) => { refused++; res.writeHead(404).end('not here'); });
    await new Promise<void>((resolve) => newRelease.listen(0, '127.0.0.1', () => resolve()));
    const { port } = newRelease.address() as AddressInfo;
    const mixed = await startNginx({ upstreamPorts: [], upstream: `server 127.0.0.1:${port};\nserver 127.0.0.1:${apps[0]!.port} backup;\n` });
    try {
      const cssPath = /<link rel="stylesheet" href="([^"]+)"/.exec((await get('/')).text)![1]!;
      const res = await httpRequest(`${mixed.httpsUrl}${cssPath}`, { ca: mixed.ca, servername: SERVER_NAME });
      expect(refused, 'the process without the file was asked first').to.equal(1);
      expect(res.status).to.equal(200);
      expect(res.headers['content-type']).to.match(/^text\/css/);
      const page = await httpRequest(`${mixed.httpsUrl}/no-such-page`, { ca: mixed.ca, servername: SERVER_NAME });
      expect(page.status, 'pages are not retried on 404').to.equal(404);
      expect(page.text).to.equal('not here');
    } finally {
      await mixed.stop();
      await new Promise<void>((resolve) => newRelease.close(() => resolve()));
    }
  });
});
