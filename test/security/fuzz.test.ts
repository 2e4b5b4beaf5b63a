// Bad input on every form never yields a 500 and never stores anything (S21): every customer and visitor POST
// form, the order actions, the staff actions and the staff GET searches; the exact length limits; unknown and
// repeated fields.
import { randomBytes } from 'node:crypto';
import bcrypt from 'bcrypt';
import { expect } from 'chai';
import { pino } from 'pino';
import { createServices } from '../../src/app.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { client, csrfFrom, daysFromToday, GOOD_PASSWORD, logIn, signUp, signupFields, type Agent } from '../helpers/client.js';
import { insertCustomers, insertOrder, STAFF_PASSWORD, staffAgent } from '../staff/helpers.js';
import { stepAt, totpCode } from '../../src/services/totp.js';
import { createMailLinks } from '../../src/services/mail-links.js';
import { upcomingDeliveries } from '../../src/services/schedule.js';

type Value = string | string[] | Record<string, string>;
// Refused in every field of every form (the CR LF only in single-line fields: see MULTI_LINE_FIELDS).
const ALWAYS_BAD: Value[] = ['x'.repeat(5000), ['a@example.ru', 'b@example.ru'], { nested: 'value' }, 'a\u0000b', '\u0000', '\r\nX-Injected: 1'];
// Hostile-looking but possibly legitimate in some field (a wish may mention <script>): never a 500; if accepted,
// stored exactly as typed and shown escaped.
const SUSPICIOUS: Value[] = ['', ' ', '<script>alert(1)</script>', "' or 1=1 --", "'; drop table users; --", 'я'.repeat(37),
  'a'.repeat(73), '2025-02-30', '2025-13-01', '0000-00-00', '31.12.2030', '１２３', '%00', '../../etc/passwd'];
// Path segments (already URL-encoded) that are not a record id.
const BAD_IDS = ['abc', '0', '-1', '1e3', '0x10', '1.0', '+5', '%207', '%00', '1%00', '%0d%0aX-Injected:%201', 'x'.repeat(5000),
  '9'.repeat(20), '9007199254740993', '%3Cscript%3Ealert(1)%3C%2Fscript%3E', "'%20or%201%3D1%20--", '..%2F..%2Fetc%2Fpasswd', '%EF%BC%91%EF%BC%92'];
const FORM_INVALID = 'Форма заполнена неправильно';
// Multi-line fields (textareas) take newlines as typed, so a CR LF there is text, not an injection (forms.ts MULTI_LINE).
const MULTI_LINE_FIELDS = new Set(['address', 'wishes', 'cardMessage', 'comment']);
const alwaysBad = (field: string, bad: Value) => ALWAYS_BAD.includes(bad) && !(MULTI_LINE_FIELDS.has(field) && bad === '\r\nX-Injected: 1');

const randomIp = () => `10.99.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250) + 1}`;
const label = (field: string, bad: Value) => `${field}=${JSON.stringify(bad).slice(0, 40)}`;

/** A query string the way a browser or a hand-made URL would send the value (repeated keys, bracket keys). */
function queryOf(field: string, bad: Value): string {
  if (typeof bad === 'string') return `${field}=${encodeURIComponent(bad)}`;
  if (Array.isArray(bad)) return bad.map((v) => `${field}=${encodeURIComponent(v)}`).join('&');
  return Object.entries(bad).map(([k, v]) => `${field}[${k}]=${encodeURIComponent(v)}`).join('&');
}

/** Cyrillic text of exactly `n` characters (UTF-16 code units, as zod's .max counts), most of them 2 bytes in UTF-8. */
function cyrillic(n: number, phrase = 'Москва, ул. Цветочная, д. 7, кв. 12; ') {
  const text = `${phrase.repeat(Math.ceil(n / phrase.length)).slice(0, n - 1)}я`;
  expect(text.length).to.equal(n);
  expect([...text].length).to.equal(n);
  expect(Buffer.byteLength(text)).to.be.above(n);
  return text;
}

/** A unique, valid, lower-case email of exactly `n` characters. */
function emailOf(n: number): string {
  const domain = '@example.ru';
  const prefix = randomBytes(6).toString('hex');
  const email = `${prefix}${'a'.repeat(n - prefix.length - domain.length)}${domain}`;
  expect(email.length).to.equal(n);
  return email;
}

describe('every form against bad input', function () {
  this.timeout(120_000);
  let t: TestApp;
  let agent: Agent;
  let me: number;
  let myEmail: string;
  let staff: Agent;
  before(async () => {
    t = createTestApp();
    agent = client(t.app);
    const { email } = await signUp(agent);
    me = Number((await t.db('users').whereRaw('lower(email) = ?', [email]).first('id')).id);
    myEmail = email;
    // A live sign-in code, so that a bad /login/code/verify post that spent one of its tries would show.
    await createServices({ config: t.config, db: t.db, logger: pino({ level: 'silent' }) }).auth.sendLoginCode(email, 'ru', { ip: null, userAgent: null });
    staff = (await staffAgent(t)).agent;
  });
  after(() => t.close());

  /**
   * What a bad request must not change: the number of accounts and reset tokens, the sign-in codes and their tries, the job queue (every job's id, key,
   * run time and attempts, so a re-queued or rescheduled job counts too), and the logged-in customer's own row and orders.
   */
  const snapshot = async () => {
    const [users, resets, consents, codes, jobs, mine, myOrders, history] = await Promise.all([
      t.db('users').count('* as n').first(), t.db('password_resets').count('* as n').first(), t.db('consent_events').count('* as n').first(),
      t.db('login_codes').orderBy('user_id').select('user_id', 'code_hash', 'attempts', 'expires_at'),
      t.db.raw(`select count(*)::int as n, md5(coalesce(string_agg(id || '|' || coalesce(key, '') || '|' || run_at || '|' || attempts, ',' order by id), '')) as h
        from graphile_worker._private_jobs`),
      t.db('users').where({ id: me }).first(), t.db('orders').where({ user_id: me }).orderBy('id'), t.db('subscription_events').count('* as n').first(),
    ]);
    // A wrong current password is counted towards the lock on purpose (S6): that is the one change a refused form makes.
    delete mine.failed_logins;
    delete mine.locked_until;
    return { users: Number(users!.n), resets: Number(resets!.n), consents: Number(consents!.n), codes, jobs: jobs.rows[0] as { n: number; h: string }, mine, myOrders, history: Number(history!.n) };
  };
  /**
   * The customer's limits are not what this test is about: earlier orders move to yesterday (the daily order cap),
   * the per-user counter of the password and email forms and the account lock that wrong current passwords build
   * up start again before each request.
   */
  const clearDailyLimits = async () => {
    await t.db('orders').where({ user_id: me }).update({ created_at: t.db.raw("created_at - interval '1 day'") });
    await t.db('rate_limits').where('key', 'like', 'user:%').delete();
    await t.db('users').where({ id: me }).update({ failed_logins: 0, locked_until: null });
  };
  const staffActionsAfter = async (id: number) => t.db('staff_actions').where('id', '>', id).orderBy('id').select('action', 'subject', 'outcome');
  const lastStaffAction = async () => Number((await t.db('staff_actions').max('id as id').first())?.id ?? 0);

  type Form = {
    path: string; page: string; as: 'visitor' | 'customer'; fields: () => Record<string, string>;
    /** The statuses a refused form may answer with (a form re-rendered with its messages, or the reset link's dead end). */
    refused: number[];
    /** Fields where some of the hostile-looking values are legitimate: an accepted one must be stored exactly as typed. */
    mayAccept?: string[];
    /** What the form kept of an accepted field (text fields are trimmed), to compare with what was typed. */
    stored?: (field: string, typed: string, body: Record<string, Value>) => Promise<unknown>;
  };
  const forms: Form[] = [
    {
      path: '/signup', page: '/signup', as: 'visitor', fields: () => signupFields({ consentMarketing: 'yes' }), refused: [422], mayAccept: ['password', 'address', 'wishes'],
      stored: async (field, typed, body) => {
        const row = await t.db('users').whereRaw('lower(email) = ?', [String(body.email).toLowerCase()]).first();
        // A password is kept as typed, untrimmed: the stored hash must be the hash of exactly what was typed.
        if (field === 'password') return (await bcrypt.compare(typed, row.password_hash)) ? 'the hash of the typed password' : row.password_hash;
        return row?.[field];
      },
    },
    { path: '/login', page: '/login', as: 'visitor', fields: () => ({ email: 'nobody@example.ru', password: 'Wrong password 1' }), refused: [401, 422] },
    { path: '/forgot-password', page: '/forgot-password', as: 'visitor', fields: () => ({ email: 'nobody@example.ru' }), refused: [422] },
    { path: '/login/code', page: '/login/code', as: 'visitor', fields: () => ({ email: 'nobody@example.ru' }), refused: [422] },
    { path: '/login/code/verify', page: '/login/code/verify', as: 'visitor', fields: () => ({ email: myEmail, code: '123456' }), refused: [422] },
    { path: '/reset-password', page: '/signup', as: 'visitor', fields: () => ({ token: 'A'.repeat(43), password: 'Novyi parol 2026' }), refused: [410, 422] },
    // The confirmation link's button: a bad token is the same dead end as a used one.
    { path: '/confirm-email', page: '/signup', as: 'visitor', fields: () => ({ token: 'A'.repeat(43) }), refused: [410] },
    // The renewal interstitial: this customer's consent is current, so an accepted form records nothing either.
    { path: '/account/consent', page: '/account', as: 'customer', fields: () => ({ consentPersonalData: 'yes' }), refused: [422] },
    // Giving or withdrawing an optional consent: only the two fixed values of each field are accepted.
    { path: '/account/privacy', page: '/account/privacy', as: 'customer', fields: () => ({ document: 'marketing', action: 'grant' }), refused: [422] },
    { path: '/account/password', page: '/account/password', as: 'customer', fields: () => ({ currentPassword: 'Wrong password 1', password: 'Novyi parol 2026' }), refused: [422] },
    { path: '/account/email', page: '/account/email', as: 'customer', fields: () => ({ currentPassword: 'Wrong password 1', email: 'new@example.ru' }), refused: [422] },
    // Deleting the account: with a wrong current password every value is refused and nothing is erased.
    { path: '/account/delete', page: '/account/delete', as: 'customer', fields: () => ({ currentPassword: 'Wrong password 1' }), refused: [422] },
    {
      path: '/account/preferences', page: '/account/preferences', as: 'customer', refused: [422], mayAccept: ['address', 'wishes'],
      fields: () => ({ bouquet: 'luxe', address: 'ул. Садовая, 3, кв. 4', deliveryDate: daysFromToday(9), interval: 'biweekly', wishes: 'Только белые' }),
      stored: async (field) => (await t.db('users').where({ id: me }).first())[field],
    },
    // The reminder box: ticked sends `yes`, unticked nothing; any other body is a forged form.
    { path: '/account/reminders', page: '/account', as: 'customer', fields: () => ({ reminders: 'yes' }), refused: [400] },
    {
      // A gift order: the recipient's phone is stored normalised, so no hostile value may be accepted in it.
      path: '/account/orders', page: '/account/orders/new', as: 'customer', refused: [422], mayAccept: ['address', 'wishes', 'recipientName', 'cardMessage'],
      fields: () => ({ bouquet: 'romantic', address: 'ул. Заказная, 1', deliveryDate: daysFromToday(5), wishes: 'Без лилий',
        recipientName: 'Анна', recipientPhone: '8 (912) 345-67-89', cardMessage: 'С днём рождения!' }),
      stored: async (field) => {
        const column = ({ recipientName: 'recipient_name', cardMessage: 'card_message' } as Record<string, string>)[field] ?? field;
        return (await t.db('orders').where({ user_id: me }).orderBy('id', 'desc').first())[column] ?? ''; // an empty card message is kept as null
      },
    },
  ];

  for (const form of forms) {
    it(`${form.path}: no bad value in any field gives a 500; a refused value changes nothing, not even the customer's own row or orders (S21)`, async () => {
      let who = form.as === 'customer' ? agent : client(t.app);
      let token = csrfFrom((await who.get(form.page)).text);
      for (const field of Object.keys(form.fields())) {
        for (const bad of [...ALWAYS_BAD, ...SUSPICIOUS]) {
          const body: Record<string, Value> = { ...form.fields(), _csrf: token, [field]: bad };
          await clearDailyLimits();
          const before = await snapshot();
          const res = await who.post(form.path).set('X-Forwarded-For', randomIp()).type('form').send(body);
          const after = await snapshot();
          const what = `${label(field, bad)} → ${res.status}`;
          expect(res.status, what).to.be.below(500);
          if (res.status === 200 || res.status >= 400) expect(res.text, what).not.to.include('<script>alert(1)</script>');
          if (alwaysBad(field, bad) || res.status >= 400) {
            // The form itself refused the value (not the CSRF check: the token was good), and nothing moved.
            expect(form.refused, what).to.include(res.status);
            expect(after, what).to.deep.equal(before);
          } else {
            expect(form.mayAccept ?? [], `${what}: accepted in a field that has no such legitimate value`).to.include(field);
            const expected = field === 'password' ? 'the hash of the typed password' : String(bad).trim();
            expect(await form.stored!(field, String(bad), body), what).to.equal(expected);
            // A visitor who has just signed up is logged in on a new session (and a new CSRF token): start a fresh visitor,
            // or every later post would be a CSRF 403 and prove nothing.
            if (form.as === 'visitor') {
              who = client(t.app);
              token = csrfFrom((await who.get(form.page)).text);
            }
          }
        }
      }
    });
  }

  it('a date that is real and in the future but more than a year ahead is refused with a message', async () => {
    const visitor = client(t.app);
    const page = await visitor.get('/signup');
    const res = await visitor.post('/signup').type('form').send({ ...signupFields({ deliveryDate: daysFromToday(400) }), _csrf: csrfFrom(page.text) });
    expect(res.status).to.equal(422);
    expect(res.text).to.include('в пределах года');
  });

  it('the TOTP forms (the code step of a staff login, enrolment) refuse every bad value and bad body with a 4xx and change nothing (S21)', async () => {
    // A staff member with TOTP whose password is proved (/login/2fa pending), and one enrolling (/staff/2fa).
    const enrolled = await staffAgent(t);
    const page = await enrolled.agent.get('/staff/2fa');
    const secret = /id="totp-secret">([A-Z2-7 ]+)</.exec(page.text)![1]!.replace(/ /g, '');
    await enrolled.agent.post('/staff/2fa').type('form').send({ _csrf: csrfFrom(page.text), code: totpCode(secret, stepAt(Date.now())) }).expect(200);
    const pending = client(t.app);
    expect((await logIn(pending, enrolled.email, STAFF_PASSWORD)).headers.location).to.equal('/login/2fa');
    const enrolling = await staffAgent(t);
    const token = csrfFrom((await enrolling.agent.get('/staff/2fa')).text);
    const state = async () => [await t.db('staff_totp').whereIn('user_id', [enrolled.id, enrolling.id]).orderBy('user_id'),
      await t.db('staff_recovery_codes').whereIn('user_id', [enrolled.id, enrolling.id]).orderBy('id')];
    const before = await state();
    const problems: string[] = [];
    const forms: [string, Agent, Record<string, string>][] = [
      ['/login/2fa', pending, { code: '123456' }], ['/login/2fa', pending, { recoveryCode: 'AAAAA-BBBBB' }],
      ['/staff/2fa', enrolling.agent, { _csrf: token, code: '123456' }],
    ];
    for (const [path, who, valid] of forms) {
      const field = Object.keys(valid).find((k) => k !== '_csrf')!;
      // A malformed body is refused by the form itself (422) before any code is checked or any try counted.
      const bodies: [string, string | Record<string, Value>, number[]][] = [...ALWAYS_BAD, ...SUSPICIOUS]
        .map((bad) => [label(field, bad), { ...valid, [field]: bad }, ALWAYS_BAD.includes(bad) ? [422] : [401, 422]]);
      const urlencoded = (extra: string) => `${new URLSearchParams(valid).toString()}&${extra}`;
      bodies.push(['unknown role=staff', urlencoded('role=staff'), [422]], [`repeated ${field}`, urlencoded(`${field}=${valid[field]}`), [422]],
        [`bracket ${field}[]`, `${valid._csrf ? `_csrf=${valid._csrf}&` : ''}${field}%5B%5D=1`, [422]]);
      for (const [what, body, refused] of bodies) {
        await t.db('users').whereIn('id', [enrolled.id, enrolling.id]).update({ failed_logins: 0, locked_until: null });
        const res = await who.post(path).set('X-Forwarded-For', randomIp()).type('form').send(body);
        if (!refused.includes(res.status)) problems.push(`${path} ${what} → ${res.status}`);
      }
    }
    expect(problems.length, `\n${problems.join('\n')}\n`).to.equal(0);
    expect(await state()).to.deep.equal(before);
  });

  describe('unknown and repeated fields', () => {
    for (const form of forms) {
      it(`${form.path}: an extra unknown field, a repeated field (a=1&a=1) or a bracket field (a[]=1) is refused and changes nothing (S21)`, async () => {
        const who = form.as === 'customer' ? agent : client(t.app);
        const token = csrfFrom((await who.get(form.page)).text);
        const valid = form.fields();
        const urlencoded = (fields: Record<string, string>) => new URLSearchParams({ _csrf: token, ...fields }).toString();
        const attempts: [string, string][] = [
          ['unknown role=staff', urlencoded({ ...valid, role: 'staff' })],
          ['unknown accountSum=1', urlencoded({ ...valid, accountSum: '1' })],
        ];
        for (const [field, value] of Object.entries(valid)) {
          const others = urlencoded(Object.fromEntries(Object.entries(valid).filter(([k]) => k !== field)));
          attempts.push([`repeated ${field}`, `${others}&${field}=${encodeURIComponent(value)}&${field}=${encodeURIComponent(value)}`]);
          attempts.push([`bracket ${field}[]`, `${others}&${field}%5B%5D=${encodeURIComponent(value)}`]);
        }
        for (const [what, body] of attempts) {
          await clearDailyLimits();
          const before = await snapshot();
          const res = await who.post(form.path).set('X-Forwarded-For', randomIp()).type('form').send(body);
          expect(form.refused, `${what} → ${res.status}`).to.include(res.status);
          if (res.status === 422 && what.startsWith('unknown')) expect(res.text, what).to.include(FORM_INVALID);
          expect(await snapshot(), what).to.deep.equal(before);
        }
      });
    }

    it('the same preferences and order forms without the extra field are accepted (the refusal above is the extra field alone)', async () => {
      for (const path of ['/account/preferences', '/account/orders']) {
        const form = forms.find((f) => f.path === path)!;
        const token = csrfFrom((await agent.get(form.page)).text);
        await agent.post(path).type('form').send({ ...form.fields(), _csrf: token }).expect(303);
      }
    });
  });

  describe('exact length limits (S21: email ≤ 254, address ≤ 500, wishes ≤ 2000 characters)', () => {
    const messageNextTo = (html: string, field: string, message: string) => {
      expect(html).to.include(`<p class="error" id="${field}-error">${message}</p>`);
      expect(html).to.match(new RegExp(`id="${field}" name="${field}"[^>]*aria-describedby="[^"]*${field}-error"[^>]*aria-invalid="true"`));
    };
    const userByEmail = (email: string) => t.db('users').whereRaw('lower(email) = ?', [email.toLowerCase()]).first();

    it('signup: a 254-character email, a 500-character Cyrillic address and 2000-character Cyrillic wishes are accepted and stored whole', async () => {
      const visitor = client(t.app);
      const fields = signupFields({ email: emailOf(254), address: cyrillic(500), wishes: cyrillic(2000, 'Пожалуйста, побольше пионов и эвкалипта. ') });
      const token = csrfFrom((await visitor.get('/signup')).text);
      const res = await visitor.post('/signup').type('form').send({ ...fields, _csrf: token });
      expect(res.status, res.text.slice(0, 300)).to.equal(303);
      const row = await userByEmail(fields.email!);
      expect(row.email).to.equal(fields.email);
      expect(row.address).to.equal(fields.address);
      expect(row.wishes).to.equal(fields.wishes);
      const { rows } = await t.db.raw('select char_length(address) as a, octet_length(address) as ab, char_length(wishes) as w from users where id = ?', [row.id]);
      expect(rows[0]).to.deep.equal({ a: 500, ab: Buffer.byteLength(fields.address!), w: 2000 });
    });

    for (const [field, n, message, value] of [
      ['email', 255, 'Email не длиннее 254 символов.', () => emailOf(255)],
      ['address', 501, 'Адрес не длиннее 500 символов.', () => cyrillic(501)],
      ['wishes', 2001, 'Пожелания не длиннее 2000 символов.', () => cyrillic(2001)],
    ] as const) {
      it(`signup: ${field} of ${n} characters is refused with 422, the message next to the field, and nothing stored`, async () => {
        const visitor = client(t.app);
        const fields = signupFields({ [field]: value() });
        const token = csrfFrom((await visitor.get('/signup')).text);
        const before = await snapshot();
        const res = await visitor.post('/signup').type('form').send({ ...fields, _csrf: token });
        expect(res.status).to.equal(422);
        messageNextTo(res.text, field, message);
        if (field !== 'wishes') expect(res.text).to.include(fields[field]); // the typed value is shown again
        expect(await snapshot()).to.deep.equal(before);
        expect(await userByEmail(fields.email!)).to.equal(undefined);
      });
    }

    it('/account/preferences: a 500-character address and 2000-character wishes are saved; 501 and 2001 are refused with 422 and a message, the row untouched', async () => {
      const token = csrfFrom((await agent.get('/account/preferences')).text);
      const base = { bouquet: 'seasonal', deliveryDate: daysFromToday(12), interval: 'monthly', _csrf: token };
      const address = cyrillic(500, 'Санкт-Петербург, Невский проспект, д. 1; ');
      const wishes = cyrillic(2000, 'Без лилий, с запиской «С днём рождения!». ');
      await agent.post('/account/preferences').type('form').send({ ...base, address, wishes }).expect(303);
      const saved = await t.db('users').where({ id: me }).first();
      expect(saved.address).to.equal(address);
      expect(saved.wishes).to.equal(wishes);

      for (const [field, body, message] of [
        ['address', { ...base, address: cyrillic(501), wishes }, 'Адрес не длиннее 500 символов.'],
        ['wishes', { ...base, address, wishes: cyrillic(2001) }, 'Пожелания не длиннее 2000 символов.'],
      ] as const) {
        const before = await snapshot();
        const res = await agent.post('/account/preferences').type('form').send(body);
        expect(res.status, field).to.equal(422);
        messageNextTo(res.text, field, message);
        expect(await snapshot(), field).to.deep.equal(before);
      }
    });
  });

  it('POST /account/email/confirmation: a body that is not just the button (unknown, repeated or bracket fields, bad values) is refused, never a 500, and queues no mail (S21)', async () => {
    const token = csrfFrom((await agent.get('/account')).text);
    const bodies: [string, string | Record<string, Value>][] = [
      ...ALWAYS_BAD.map((bad): [string, Record<string, Value>] => [`unknown ${label('email', bad)}`, { _csrf: token, email: bad }]),
      ['unknown email=other', { _csrf: token, email: 'other@example.ru' }],
      ['repeated _csrf', `_csrf=${token}&_csrf=${token}`],
      ['bracket _csrf[]', `_csrf%5B%5D=${token}`],
    ];
    const problems: string[] = [];
    for (const [what, body] of bodies) {
      await clearDailyLimits();
      const before = await snapshot();
      const res = await agent.post('/account/email/confirmation').type('form').send(body);
      if (res.status < 400 || res.status >= 500) problems.push(`${what} → ${res.status}`);
      if (JSON.stringify(await snapshot()) !== JSON.stringify(before)) problems.push(`${what}: something changed`);
    }
    expect(problems.length, `\n${problems.join('\n')}\n`).to.equal(0);
    await clearDailyLimits();
    const accepted = await agent.post('/account/email/confirmation').type('form').send({ _csrf: token });
    expect([accepted.status, accepted.headers.location], 'the plain button is accepted').to.deep.equal([303, '/account']);
  });

  describe('one-click mail actions (POST /m/:token)', () => {
    const mailState = async () => JSON.stringify([
      await t.db('delivery_exceptions').where({ user_id: me }).orderBy('id'), await t.db('subscription_events').where({ user_id: me }).orderBy('id'),
      await t.db('mail_action_uses').where({ user_id: me }).count({ n: '*' }).first(), (await t.db('users').where({ id: me }).first('reminders_opt_out_at')).reminders_opt_out_at,
    ]);

    it('a bad newDate or List-Unsubscribe value, a field the link does not take, an unknown, repeated or bracket field, and a path that is not a token: never a 500, nothing changes (S21)', async () => {
      const { delivery_date: date } = await t.db('users').where({ id: me }).first('delivery_date');
      const links = createMailLinks(t.config.sessionSecrets);
      const tokens = (['skip', 'move', 'unsubscribe'] as const).map((action) => ({ action, token: links.make({ userId: me, date, action, expiresAt: new Date(Date.now() + 86_400_000) }) }));
      const before = await mailState();
      const problems: string[] = [];
      const post = async (path: string, body: string | Record<string, Value>, allowed: number[], what: string) => {
        const res = await client(t.app).post(path).type('form').send(body);
        if (!allowed.includes(res.status)) problems.push(`${what} → ${res.status}`);
        if (res.text.includes('<script>alert(1)</script>')) problems.push(`${what}: unescaped`);
      };
      for (const { action, token } of tokens) {
        for (const field of ['newDate', 'List-Unsubscribe']) {
          for (const bad of [...ALWAYS_BAD, ...SUSPICIOUS]) await post(`/m/${token}`, { [field]: bad }, action === 'move' && field === 'newDate' ? [400, 422] : [400], `${action} ${label(field, bad)}`);
        }
        await post(`/m/${token}`, 'role=staff', [400], `${action} unknown role=staff`);
        await post(`/m/${token}`, 'newDate=2030-01-01&newDate=2030-01-01', [400], `${action} repeated newDate`);
        await post(`/m/${token}`, 'newDate%5B%5D=2030-01-01', [400], `${action} bracket newDate[]`);
        await post(`/m/${token}`, 'List-Unsubscribe=One-Click&List-Unsubscribe=One-Click', [400], `${action} repeated List-Unsubscribe`);
      }
      for (const bad of BAD_IDS) await post(`/m/${bad}`, {}, [400, 404], `/m/${bad.slice(0, 30)}`);
      expect(problems.length, `\n${problems.join('\n')}\n`).to.equal(0);
      expect(await mailState()).to.equal(before);
    });
  });

  describe('order actions (POST /account/orders/:id/confirm and /cancel)', () => {
    let mine: number;
    let others: number;
    before(async () => {
      const form = forms.find((f) => f.path === '/account/orders')!;
      const token = csrfFrom((await agent.get(form.page)).text);
      const res = await agent.post('/account/orders').type('form').send({ ...form.fields(), _csrf: token }).expect(303);
      mine = Number(/\/account\/orders\/(\d+)$/.exec(res.headers.location!)![1]);
      const [other] = await insertCustomers(t.db, [{ deliveryDate: daysFromToday(3), interval: 'weekly' }]);
      others = await insertOrder(t.db, { userId: other!, deliveryDate: daysFromToday(4), status: 'placed' });
    });
    const orderRows = () => t.db('orders').whereIn('id', [mine, others]).orderBy('id');

    it('when the id is not an order id (or is another customer\'s order), then 404, never a 500, and no order changes (S21, S22)', async () => {
      const token = csrfFrom((await agent.get(`/account/orders/${mine}`)).text);
      for (const action of ['confirm', 'cancel']) {
        for (const id of [...BAD_IDS, String(others), '999999999999999']) {
          const before = [await snapshot(), await orderRows()];
          const res = await agent.post(`/account/orders/${id}/${action}`).type('form').send({ _csrf: token });
          expect(res.status, `${action} ${id.slice(0, 40)}`).to.equal(404);
          expect([await snapshot(), await orderRows()], `${action} ${id.slice(0, 40)}`).to.deep.equal(before);
        }
      }
    });

    it('when the body of the customer\'s own confirm or cancel form is bad (unknown, repeated or bracket fields, bad values), then it is refused and the order is untouched (S21)', async () => {
      const token = csrfFrom((await agent.get(`/account/orders/${mine}`)).text);
      const problems: string[] = [];
      for (const action of ['confirm', 'cancel']) {
        const bodies: [string, string | Record<string, Value>][] = [
          ...ALWAYS_BAD.map((bad): [string, Record<string, Value>] => [`unknown ${label('id', bad)}`, { _csrf: token, id: bad }]),
          ['unknown status=cancelled', { _csrf: token, status: 'cancelled' }],
          ['repeated _csrf', `_csrf=${token}&_csrf=${token}`],
          ['bracket _csrf[]', `_csrf%5B%5D=${token}`],
        ];
        for (const [what, body] of bodies) {
          const before = JSON.stringify([await snapshot(), await orderRows()]);
          const res = await agent.post(`/account/orders/${mine}/${action}`).type('form').send(body);
          expect(res.status, `${action} ${what}`).to.be.below(500);
          const wrong = [
            res.status < 400 && `accepted (→ ${res.headers.location})`,
            JSON.stringify([await snapshot(), await orderRows()]) !== before && `the order is now ${(await t.db('orders').where({ id: mine }).first()).status}`,
          ].filter(Boolean);
          if (wrong.length) problems.push(`${action} with ${what} → ${res.status}: ${wrong.join('; ')}`);
        }
      }
      expect(problems.length, `\n${problems.join('\n')}\n`).to.equal(0);
    });
  });

  describe('ending a signed-in device (POST /account/sessions/:id/end)', () => {
    let laptop: Agent;
    let mine: string;
    let others: string;
    before(async () => {
      laptop = client(t.app);
      expect((await logIn(laptop, myEmail, GOOD_PASSWORD)).status).to.equal(303);
      mine = /action="\/account\/sessions\/([^/"]+)\/end"/.exec((await agent.get('/account/sessions')).text)![1]!;
      const other = client(t.app);
      const { email } = await signUp(other);
      expect((await logIn(client(t.app), email, GOOD_PASSWORD)).status).to.equal(303);
      const user = await t.db('users').whereRaw('lower(email) = ?', [email]).first('id', 'auth_version');
      const devices = createServices({ config: t.config, db: t.db, logger: pino({ level: 'silent' }) }).devices;
      others = (await devices.list(user.id, user.auth_version, 'none'))[0]!.handle;
    });
    const sessionRows = async () => (await t.db('session').orderBy('sid').select('sid')).map((r) => r.sid as string);

    it('when the handle is not a handle (a bad value, a session id, one changed character, another customer\'s), then 404, never a 500, and no session ends (S21)', async () => {
      const token = csrfFrom((await agent.get('/account/sessions')).text);
      const laptopSid = (await t.db('session').select('sid')).map((r) => r.sid as string);
      const changed = `${mine.slice(0, -1)}${mine.endsWith('A') ? 'B' : 'A'}`;
      for (const id of [...BAD_IDS, changed, others, ...laptopSid.map(encodeURIComponent), 'A'.repeat(22)]) {
        const before = [await snapshot(), await sessionRows()];
        const res = await agent.post(`/account/sessions/${id}/end`).type('form').send({ _csrf: token });
        expect(res.status, id.slice(0, 40)).to.equal(404);
        expect([await snapshot(), await sessionRows()], id.slice(0, 40)).to.deep.equal(before);
      }
      await laptop.get('/account').expect(200);
    });

    it('when the body of the end form is bad (unknown, repeated or bracket fields, bad values), then 4xx and the device stays signed in (S21)', async () => {
      const token = csrfFrom((await agent.get('/account/sessions')).text);
      const bodies: [string, string | Record<string, Value>][] = [
        ...ALWAYS_BAD.map((bad): [string, Record<string, Value>] => [`unknown ${label('id', bad)}`, { _csrf: token, id: bad }]),
        ['repeated _csrf', `_csrf=${token}&_csrf=${token}`],
        ['bracket _csrf[]', `_csrf%5B%5D=${token}`],
      ];
      for (const [what, body] of bodies) {
        const before = await sessionRows();
        const res = await agent.post(`/account/sessions/${mine}/end`).type('form').send(body);
        expect(res.status, what).to.be.within(400, 499);
        expect(await sessionRows(), what).to.deep.equal(before);
      }
      await laptop.get('/account').expect(200);
    });
  });

  describe('subscription self-service (POST /account/deliveries/:date/skip|unskip|move, /account/pause, /account/resume, /account/cancel, /account/reactivate)', () => {
    /** Everything a subscription form may change: the customer's row (pause, cancellation), their delivery changes and history, the queue. */
    const changes = async () => JSON.stringify([await snapshot(), await t.db('delivery_exceptions').where({ user_id: me }).orderBy('id'),
      await t.db('subscription_events').where({ user_id: me }).orderBy('id')]);
    /** The customer's next delivery (the preferences test above may have changed the schedule). */
    const nextDelivery = async () => {
      const user = await t.db('users').where({ id: me }).first('delivery_date', 'interval');
      return upcomingDeliveries(user.delivery_date, user.interval, daysFromToday(2), 1)[0]!;
    };
    const forms = async (): Promise<{ path: string; page: string; fields: Record<string, string> }[]> => {
      const next = await nextDelivery();
      return [
        { path: `/account/deliveries/${next}/move`, page: '/account/deliveries', fields: { newDate: daysFromToday(3) } },
        { path: '/account/pause', page: '/account/pause', fields: { until: daysFromToday(20) } },
        // "other" shows the offer first, so that even a comment accepted as typed changes nothing here.
        { path: '/account/cancel', page: '/account/cancel', fields: { reason: 'other', comment: 'Причина' } },
        // The subscription is not cancelled: a valid date changes nothing either.
        { path: '/account/reactivate', page: '/account', fields: { deliveryDate: daysFromToday(10) } },
      ];
    };

    it('no bad value in any field gives a 500; every one is refused or changes nothing (S21)', async () => {
      const problems: string[] = [];
      for (const form of await forms()) {
        const token = csrfFrom((await agent.get(form.page)).text);
        for (const field of Object.keys(form.fields)) {
          for (const bad of [...ALWAYS_BAD, ...SUSPICIOUS]) {
            const before = await changes();
            const res = await agent.post(form.path).type('form').send({ ...form.fields, _csrf: token, [field]: bad });
            const what = `${form.path} ${label(field, bad)} → ${res.status}`;
            if (res.status >= 500) problems.push(what);
            if (alwaysBad(field, bad) && (res.status < 400 || res.status >= 500)) problems.push(`${what}: accepted`);
            if (res.text.includes('<script>alert(1)</script>')) problems.push(`${what}: unescaped`);
            if (await changes() !== before) problems.push(`${what}: changed the subscription`);
          }
        }
      }
      expect(problems.length, `\n${problems.join('\n')}\n`).to.equal(0);
    });

    it('an extra unknown field, a repeated field or a bracket field is refused with 4xx and changes nothing, also on the button forms (S21)', async () => {
      const next = await nextDelivery();
      const all = [
        ...(await forms()),
        // Valid on their own: the refusal is the extra, repeated or bracket field alone.
        { path: `/account/deliveries/${next}/move`, page: '/account/deliveries', fields: { newDate: daysFromToday(8) } },
        { path: '/account/cancel', page: '/account/cancel', fields: { reason: 'quality', comment: '' } },
        { path: `/account/deliveries/${next}/skip`, page: '/account/deliveries', fields: {} },
        { path: `/account/deliveries/${next}/unskip`, page: '/account/deliveries', fields: {} },
        { path: '/account/resume', page: '/account', fields: {} },
      ];
      const problems: string[] = [];
      for (const form of all) {
        const token = csrfFrom((await agent.get(form.page)).text);
        const urlencoded = (fields: Record<string, string>) => new URLSearchParams({ _csrf: token, ...fields }).toString();
        const attempts: [string, string][] = [['unknown role=staff', urlencoded({ ...form.fields, role: 'staff' })], ['repeated _csrf', `${urlencoded(form.fields)}&_csrf=${token}`]];
        for (const [field, value] of Object.entries(form.fields)) {
          const others = urlencoded(Object.fromEntries(Object.entries(form.fields).filter(([k]) => k !== field)));
          attempts.push([`repeated ${field}`, `${others}&${field}=${encodeURIComponent(value)}&${field}=${encodeURIComponent(value)}`]);
          attempts.push([`bracket ${field}[]`, `${others}&${field}%5B%5D=${encodeURIComponent(value)}`]);
        }
        for (const [what, body] of attempts) {
          const before = await changes();
          const res = await agent.post(form.path).type('form').send(body);
          if (res.status < 400 || res.status >= 500) problems.push(`${form.path} ${what} → ${res.status}`);
          if (await changes() !== before) problems.push(`${form.path} ${what}: changed the subscription`);
        }
      }
      expect(problems.length, `\n${problems.join('\n')}\n`).to.equal(0);
    });

    it('when the date in the path is not a real date, then 404 for skip, unskip and move, never a 500, and nothing changes (S21)', async () => {
      const token = csrfFrom((await agent.get('/account/deliveries')).text);
      const problems: string[] = [];
      for (const action of ['skip', 'unskip', 'move']) {
        for (const date of [...BAD_IDS, '2027-02-30', '2027-13-01', '2027-1-5', '20270105', '2027-01-05%00', '%202027-01-05', '0000-00-00']) {
          const before = await changes();
          const res = await agent.post(`/account/deliveries/${date}/${action}`).type('form').send({ _csrf: token, ...(action === 'move' ? { newDate: daysFromToday(3) } : {}) });
          if (res.status !== 404) problems.push(`${action} ${date.slice(0, 40)} → ${res.status}`);
          if (await changes() !== before) problems.push(`${action} ${date.slice(0, 40)}: changed the subscription`);
        }
      }
      expect(problems.length, `\n${problems.join('\n')}\n`).to.equal(0);
    });
  });

  describe('staff forms', () => {
    let target: number;
    let jobId: string;
    let token: string;
    before(async () => {
      [target] = (await insertCustomers(t.db, [{ deliveryDate: daysFromToday(2), interval: 'weekly' }])) as [number];
      await t.db('users').where({ id: target }).update({ amo_lead_id: 880_000_000 + target }); // a lead, so that «Обновить» would queue its history
      const { rows } = await t.db.raw('select id::text from graphile_worker._private_jobs where key = ?', [`amocrm:customer:${me}`]);
      jobId = rows[0].id;
      token = csrfFrom((await staff.get('/staff/amocrm').expect(200)).text);
    });

    const searches: { path: string; fields: string[]; refusedBy: number }[] = [
      { path: '/staff/customers', fields: ['q', 'after', 'before'], refusedBy: 400 },
      { path: '/staff/deliveries', fields: ['date', 'page'], refusedBy: 400 },
      { path: '/staff/deliveries.csv', fields: ['date'], refusedBy: 400 },
    ];
    for (const search of searches) {
      it(`GET ${search.path}?${search.fields.join('=…&')}=…: no bad value gives a 500 or stores anything; oversized, repeated and control-character values are a 400 (S21)`, async () => {
        for (const field of search.fields) {
          for (const bad of [...ALWAYS_BAD, ...SUSPICIOUS]) {
            const before = await snapshot();
            const res = await staff.get(`${search.path}?${queryOf(field, bad)}`);
            const what = `${label(field, bad)} → ${res.status}`;
            expect(res.status, what).to.be.below(500);
            // `field[nested]=value` is, to the simple query parser, another parameter's name: the field is just absent.
            if (ALWAYS_BAD.includes(bad) && !(typeof bad === 'object' && !Array.isArray(bad))) expect(res.status, what).to.equal(search.refusedBy);
            if (res.status === 200) expect(res.text, what).not.to.include('<script>alert(1)</script>');
            expect(await snapshot(), what).to.deep.equal(before);
          }
        }
      });
    }

    it('POST /staff/customers/:id/resync and /staff/customers/:id/history with an id that is not a customer id: 404, never a 500, nothing queued (S21)', async () => {
      const since = await lastStaffAction();
      for (const action of ['resync', 'history']) {
        for (const id of [...BAD_IDS, '999999999999999']) {
          const before = await snapshot();
          const res = await staff.post(`/staff/customers/${id}/${action}`).type('form').send({ _csrf: token });
          expect(res.status, `${action} ${id.slice(0, 40)}`).to.equal(404);
          expect(await snapshot(), `${action} ${id.slice(0, 40)}`).to.deep.equal(before);
        }
      }
      expect(await staffActionsAfter(since)).to.deep.equal([]);
    });

    it('POST /staff/amocrm/jobs/:id/retry with an id that is not an id: 404, never a 500, nothing queued, rescheduled or recorded (S21)', async () => {
      const problems: string[] = [];
      for (const path of ['/staff/amocrm/jobs/:id/retry']) {
        for (const id of BAD_IDS) {
          const since = await lastStaffAction();
          const before = JSON.stringify(await snapshot());
          const res = await staff.post(path.replace(':id', id)).type('form').send({ _csrf: token });
          const done = await staffActionsAfter(since); // not even a 'gone' retry: the id is refused before anything
          const wrong = [
            res.status !== 404 && 'not refused with 404',
            JSON.stringify(await snapshot()) !== before && 'the job queue changed',
            done.length > 0 && `recorded as ${done.map((a) => `${a.action} ${String(a.subject).slice(0, 20)} ${a.outcome}`).join(', ')}`,
          ].filter(Boolean);
          if (wrong.length) problems.push(`${path.replace(':id', id.slice(0, 30))} → ${res.status}: ${wrong.join('; ')}`);
        }
      }
      expect(problems.length, `\n${problems.join('\n')}\n`).to.equal(0);
    });

    it('the staff action forms refuse a bad body (unknown, repeated or bracket fields) and do nothing, like every other form (S21)', async () => {
      const problems: string[] = [];
      const actions = [`/staff/customers/${target}/resync`, `/staff/customers/${target}/history`, `/staff/amocrm/jobs/${jobId}/retry`,
        '/staff/amocrm/resume', '/staff/amocrm/fields'];
      const bodies: [string, string | Record<string, Value>][] = [
        ...ALWAYS_BAD.map((bad): [string, Record<string, Value>] => [`unknown ${label('id', bad)}`, { _csrf: token, id: bad }]),
        ['unknown role=staff', { _csrf: token, role: 'staff' }],
        ['repeated _csrf', `_csrf=${token}&_csrf=${token}`],
        ['bracket _csrf[]', `_csrf%5B%5D=${token}`],
      ];
      for (const path of actions) {
        for (const [what, body] of bodies) {
          const since = await lastStaffAction();
          const before = JSON.stringify(await snapshot());
          const res = await staff.post(path).type('form').send(body);
          const done = await staffActionsAfter(since);
          const wrong = [
            res.status >= 500 && 'server error',
            res.status < 400 && 'accepted',
            JSON.stringify(await snapshot()) !== before && 'the job queue changed',
            done.length > 0 && `recorded as ${done.map((a) => `${a.action} ${a.outcome}`).join(', ')}`,
          ].filter(Boolean);
          if (wrong.length) problems.push(`${path} with ${what} → ${res.status}: ${wrong.join('; ')}`);
        }
      }
      expect(problems.length, `\n${problems.join('\n')}\n`).to.equal(0);
    });
  });
});
