import { expect } from 'chai';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { agentCookie, client, csrfFrom, logIn, sessionIdOf, signUp, type Agent } from '../helpers/client.js';
import { formatDateTime } from '../../src/i18n/i18n.js';
import { createDeviceService, maskIp } from '../../src/services/device-service.js';

const CHROME_WINDOWS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
const FIREFOX_LINUX = 'Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0';
const SAFARI_IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1';

describe('signed-in devices (/account/sessions)', () => {
  let t: TestApp;
  before(() => { t = createTestApp(); });
  after(() => t.close());

  const sidOf = (agent: Agent) => sessionIdOf(agentCookie(agent));
  const sections = (html: string) => html.split('<section class="panel"').slice(1);
  const endForms = (html: string) => [...html.matchAll(/action="\/account\/sessions\/([^/"]+)\/end"/g)].map((m) => m[1]!);

  /** One customer signed in on a Windows PC (from the sign-up) and on a Linux laptop (a password login). */
  async function customer() {
    const pc = client(t.app, '10.20.30.40').set('User-Agent', CHROME_WINDOWS);
    const { email, password } = await signUp(pc);
    const laptop = client(t.app, '10.50.60.70').set('User-Agent', FIREFOX_LINUX);
    expect((await logIn(laptop, email, password)).status).to.equal(303);
    return { pc, laptop, email, password };
  }

  it('when a customer opens the page, then each live session of theirs shows its browser, system, masked IP and last activity, and the current one says «это устройство»', async () => {
    const { pc, laptop, email, password } = await customer();
    const phone = client(t.app).set('User-Agent', SAFARI_IPHONE);
    await logIn(phone, email, password);
    await t.db('session').where({ sid: sidOf(phone) }).update({ expire: t.db.raw("now() - interval '1 minute'") }); // expired: not listed
    await signUp(client(t.app).set('User-Agent', SAFARI_IPHONE)); // someone else's session: not listed

    const html = (await pc.get('/account/sessions').expect(200)).text;
    const shown = sections(html);
    expect(shown).to.have.length(2);
    expect(shown[0]).to.contain('Chrome 120, Windows 10').and.contain('это устройство').and.contain('IP-адрес: 10.20.30.*');
    expect(shown[0]).to.not.contain('/end"'); // the current device is left with "Выйти"
    expect(shown[1]).to.contain('Firefox 121, Linux').and.contain('IP-адрес: 10.50.60.*').and.contain('Завершить сеанс');
    expect(shown[1]).to.not.contain('это устройство');
    expect(html).to.not.contain('10.20.30.40').and.not.contain('10.50.60.70').and.not.contain('Safari');
    expect(html).to.contain('Последняя активность: ');
    // From the laptop the same list, its own row being the current one.
    const fromLaptop = sections((await laptop.get('/account/sessions').expect(200)).text);
    expect(fromLaptop[0]).to.contain('Firefox 121').and.contain('это устройство');
  });

  it('when the last activity has seconds and odd minutes, then it is shown rounded down to five minutes', async () => {
    const { pc, laptop } = await customer();
    const hour = Math.floor((Date.now() - 3600_000) / 3600_000) * 3600_000;
    const seen = hour + 34 * 60_000 + 56_000;
    await t.db('session').where({ sid: sidOf(laptop) }).update({ sess: t.db.raw("jsonb_set(sess::jsonb, '{lastSeenAt}', ?::jsonb)::json", [String(seen)]) });
    const html = (await pc.get('/account/sessions').expect(200)).text;
    const zone = t.config.shopTimeZone;
    expect(html).to.contain(`Последняя активность: ${formatDateTime(new Date(hour + 30 * 60_000), zone)}`);
    expect(html).to.not.contain(formatDateTime(new Date(seen), zone));
  });

  it('when the page is rendered, then no session id appears in it, only opaque handles', async () => {
    const { pc, laptop } = await customer();
    const html = (await pc.get('/account/sessions').expect(200)).text;
    expect(html).to.not.contain(sidOf(pc)).and.not.contain(sidOf(laptop));
    const [handle] = endForms(html);
    expect(handle).to.match(/^[A-Za-z0-9_-]{22}$/);
  });

  it('when the customer ends another device, then that device is logged out on its next request and the current one stays', async () => {
    const { pc, laptop } = await customer();
    const page = await pc.get('/account/sessions');
    const [handle] = endForms(page.text);
    const res = await pc.post(`/account/sessions/${handle}/end`).type('form').send({ _csrf: csrfFrom(page.text) }).expect(303);
    expect(res.headers.location).to.equal('/account/sessions');
    const after = await pc.get('/account/sessions').expect(200);
    expect(after.text).to.contain('Сеанс на устройстве завершён.');
    expect(sections(after.text)).to.have.length(1);
    const gone = await laptop.get('/account').expect(303);
    expect(gone.headers.location).to.match(/^\/login/);
    await pc.get('/account').expect(200);
  });

  it('when the handle is another customer\'s, then 404 and nothing is ended', async () => {
    const victim = await customer();
    const [handle] = endForms((await victim.pc.get('/account/sessions')).text);
    const other = client(t.app);
    await signUp(other);
    const page = await other.get('/account/sessions');
    await other.post(`/account/sessions/${handle}/end`).type('form').send({ _csrf: csrfFrom(page.text) }).expect(404);
    expect(await t.db('session').where({ sid: sidOf(victim.laptop) }).first()).to.not.equal(undefined);
    await victim.laptop.get('/account').expect(200);
  });

  it('when the handle is the current device\'s own, then it is refused with a notice and the session stays', async () => {
    const { pc } = await customer();
    const devices = createDeviceService({ db: t.db, secret: t.config.sessionSecrets[0]! });
    const user = await t.db('session').where({ sid: sidOf(pc) }).first().then((row) => (row.sess as { passport: { user: { id: number; v: number } } }).passport.user);
    const own = (await devices.list(user.id, user.v, sidOf(pc))).find((d) => d.current)!.handle;
    const page = await pc.get('/account/sessions');
    await pc.post(`/account/sessions/${own}/end`).type('form').send({ _csrf: csrfFrom(page.text) }).expect(303);
    expect((await pc.get('/account/sessions').expect(200)).text).to.contain('Это устройство. Чтобы выйти на нём, нажмите «Выйти».');
  });

  it('when the form has no CSRF token or extra fields, or the handle is malformed, then 4xx and nothing is ended', async () => {
    const { pc, laptop } = await customer();
    const page = await pc.get('/account/sessions');
    const [handle] = endForms(page.text);
    const _csrf = csrfFrom(page.text);
    await pc.post(`/account/sessions/${handle}/end`).type('form').send({}).expect(403);
    await pc.post(`/account/sessions/${handle}/end`).type('form').send({ _csrf, extra: '1' }).expect(400);
    await pc.post(`/account/sessions/${handle}x/end`).type('form').send({ _csrf }).expect(404);
    await pc.post(`/account/sessions/${sidOf(laptop)}/end`).type('form').send({ _csrf }).expect(404);
    await laptop.get('/account').expect(200);
  });

  it('when the language is English, then the page is in English', async () => {
    const { pc } = await customer();
    const html = (await pc.get('/account/sessions?lang=en').expect(200)).text;
    expect(html).to.contain('Signed-in devices').and.contain('this device').and.contain('End session').and.contain('IP address: 10.20.30.*');
  });

  it('when the account page is shown, then it links to the list of devices', async () => {
    const { pc } = await customer();
    expect((await pc.get('/account').expect(200)).text).to.contain('<a href="/account/sessions">Устройства, где выполнен вход</a>');
  });

  it('masks the last part of an address: the last IPv4 octet, the interface half of IPv6', () => {
    expect(maskIp('192.0.2.17')).to.equal('192.0.2.*');
    expect(maskIp('::ffff:192.0.2.17')).to.equal('192.0.2.*');
    expect(maskIp('2001:db8:85a3::8a2e:370:7334')).to.equal('2001:db8:85a3:0:*');
    expect(maskIp(undefined)).to.equal(null);
  });
});
