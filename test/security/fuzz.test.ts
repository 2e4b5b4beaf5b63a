// Bad input on every form never yields a 500 and never stores anything (S21).
import { expect } from 'chai';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { client, csrfFrom, daysFromToday, signUp, signupFields, type Agent } from '../helpers/client.js';

type Value = string | string[] | Record<string, string>;
// Refused in every field of every form.
const ALWAYS_BAD: Value[] = ['x'.repeat(5000), ['a@example.ru', 'b@example.ru'], { nested: 'value' }, 'a\u0000b', '\u0000', '\r\nX-Injected: 1'];
// Hostile-looking but possibly legitimate in some field (a wish may mention <script>): never a 500; if accepted,
// stored exactly as typed and shown escaped.
const SUSPICIOUS: Value[] = ['', ' ', '<script>alert(1)</script>', "' or 1=1 --", "'; drop table users; --", 'я'.repeat(37),
  'a'.repeat(73), '2025-02-30', '2025-13-01', '0000-00-00', '31.12.2030', '１２３', '%00', '../../etc/passwd'];

describe('every form against bad input', function () {
  this.timeout(120_000);
  let t: TestApp;
  let agent: Agent;
  before(async () => {
    t = createTestApp();
    agent = client(t.app);
    await signUp(agent);
  });
  after(() => t.close());

  const snapshot = async () => {
    const [users, resets, jobs] = await Promise.all([
      t.db('users').count('* as n').first(), t.db('password_resets').count('* as n').first(),
      t.db.raw('select count(*)::int as n from graphile_worker._private_jobs'),
    ]);
    return { users: users!.n, resets: resets!.n, jobs: jobs.rows[0].n };
  };

  const forms: { path: string; as: 'visitor' | 'customer'; fields: () => Record<string, string> }[] = [
    { path: '/signup', as: 'visitor', fields: () => signupFields() },
    { path: '/login', as: 'visitor', fields: () => ({ email: 'nobody@example.ru', password: 'Wrong password 1' }) },
    { path: '/forgot-password', as: 'visitor', fields: () => ({ email: 'nobody@example.ru' }) },
    { path: '/reset-password', as: 'visitor', fields: () => ({ token: 'A'.repeat(43), password: 'Novyi parol 2026' }) },
    { path: '/account/password', as: 'customer', fields: () => ({ currentPassword: 'Wrong password 1', password: 'Novyi parol 2026' }) },
    { path: '/account/email', as: 'customer', fields: () => ({ currentPassword: 'Wrong password 1', email: 'new@example.ru' }) },
  ];

  for (const form of forms) {
    it(`${form.path}: no bad value in any field gives a 500; refused values store nothing`, async () => {
      const before = await snapshot();
      const who = form.as === 'customer' ? agent : client(t.app);
      const page = await who.get(form.as === 'customer' ? form.path : '/signup');
      const token = csrfFrom(page.text);
      let accepted = 0;
      for (const field of Object.keys(form.fields())) {
        for (const bad of [...ALWAYS_BAD, ...SUSPICIOUS]) {
          const body = { ...form.fields(), _csrf: token, [field]: bad };
          const res = await who.post(form.path).set('X-Forwarded-For', `10.99.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250) + 1}`).type('form').send(body);
          const what = `${field}=${JSON.stringify(bad).slice(0, 40)} → ${res.status}`;
          expect(res.status, what).to.be.below(500);
          if (ALWAYS_BAD.includes(bad)) expect(res.status, what).to.be.within(400, 499);
          if (res.status < 400 && form.path === '/signup') {
            accepted++;
            const row = await t.db('users').whereRaw('lower(email) = ?', [String(body.email).toLowerCase()]).first();
            if (['address', 'wishes'].includes(field)) expect(row[field], what).to.equal(String(bad).trim());
          }
          if (res.status === 200 || res.status === 422) expect(res.text).not.to.include('<script>alert(1)</script>');
        }
      }
      // Repeated and unknown fields are refused too.
      const repeated = await who.post(form.path).type('form').send(`_csrf=${token}&email=a%40example.ru&email=b%40example.ru`);
      expect(repeated.status).to.be.within(400, 499);
      const unknown = await who.post(form.path).type('form').send({ ...form.fields(), _csrf: token, role: 'staff' });
      expect(unknown.status).to.be.within(400, 499);
      const after = await snapshot();
      expect(after.users).to.equal(Number(before.users) + accepted);
      expect(after.resets).to.equal(before.resets);
      if (!['/forgot-password', '/signup'].includes(form.path)) expect(after.jobs).to.equal(before.jobs);
    });
  }

  it('a date that is real and in the future but more than a year ahead is refused with a message', async () => {
    const visitor = client(t.app);
    const page = await visitor.get('/signup');
    const res = await visitor.post('/signup').type('form').send({ ...signupFields({ deliveryDate: daysFromToday(400) }), _csrf: csrfFrom(page.text) });
    expect(res.status).to.equal(422);
    expect(res.text).to.include('в пределах года');
  });
});
