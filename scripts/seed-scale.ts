// Fills a database with shop data at scale, to see the staff pages and their queries at that size:
//   npx tsx scripts/seed-scale.ts --database-url postgres://postgres@127.0.0.1:5432/flowers_scale [--customers 100000] [--orders 1000000]
// The database is created when missing and migrated. Refuses a database that already has customers (run it on
// a scratch database). Realistic shapes: Russian addresses, a mix of intervals and first delivery dates over
// the last two years, orders mostly to the customer's own address, 200,000 skips and moves and 10,000 pauses (at
// 100,000 customers), 10 % referred customers, amoCRM ids, sign-in
// events and sync history. Everything is generated in PostgreSQL (generate_series), so 1,000,000 orders take
// seconds, not minutes.
import pg from 'pg';
import { createDb, migrate } from '../src/db.js';

export type SeedOptions = { customers: number; orders: number; log?: (message: string) => void };

const STREETS = ['Садовая', 'Лесная', 'Полевая', 'Речная', 'Школьная', 'Мира', 'Гагарина', 'Победы', 'Набережная', 'Советская',
  'Ленина', 'Пушкина', 'Лермонтова', 'Чехова', 'Толстого', 'Зелёная', 'Молодёжная', 'Центральная', 'Солнечная', 'Вишнёвая',
  'Берёзовая', 'Кленовая', 'Липовая', 'Рябиновая', 'Сиреневая', 'Цветочная', 'Южная', 'Северная', 'Восточная', 'Западная',
  'Тверская', 'Арбат', 'Маросейка', 'Покровка', 'Сретенка', 'Остоженка', 'Пятницкая', 'Ордынка', 'Никитская', 'Якиманка'];
const KINDS = ['ул.', 'ул.', 'ул.', 'пр-т', 'пер.', 'наб.', 'б-р'];
const CITIES = ['Москва', 'Москва', 'Москва', 'Химки', 'Мытищи', 'Красногорск', 'Люберцы', 'Балашиха'];
const NAMES = ['ivan', 'olga', 'anna', 'sergey', 'maria', 'dmitry', 'elena', 'alexey', 'natalia', 'pavel', 'irina', 'nikolay', 'tatiana', 'andrey', 'svetlana', 'mikhail'];
const DOMAINS = ['mail.ru', 'yandex.ru', 'gmail.com', 'bk.ru', 'inbox.ru', 'rambler.ru', 'example.ru'];
const WISHES = ['', '', '', '', 'Больше зелени, без роз', 'Только белые цветы', 'Позвонить за час до доставки', 'Без лилий — аллергия',
  'Оставить у консьержа', 'Пастельные тона, можно эвкалипт', 'Домофон не работает, звонить на мобильный', 'Пионы, если сезон',
  'К 9 утра, подарок коллеге', 'Яркие цвета, подсолнухи'];

const lit = (values: string[]) => `array[${values.map((v) => `'${v.replace(/'/g, "''")}'`).join(',')}]::text[]`;
/** An element of a text array chosen by random(). */
const pick = (values: string[]) => `(${lit(values)})[1 + floor(random() * ${values.length})::int]`;

export async function seedScale(url: string, { customers, orders, log = () => {} }: SeedOptions): Promise<void> {
  await createDatabaseIfMissing(url);
  const db = createDb(url, { poolMax: 2 });
  try {
    await migrate(db, url);
    const { rows: [existing] } = await db.raw("select count(*)::int as n from users where role = 'customer'");
    if (existing.n > 0) throw new Error(`the database already has ${existing.n} customers: seed a scratch database`);
    const hash = '$2b$12$C6UzMDM.H6dfI/f/IKxGhuA0F5bZ5c5U5qTjzE4e3cQdJ1u0bYbQW'; // these customers never log in
    const { rows: [{ base }] } = await db.raw('select coalesce(max(id), 0)::bigint as base from users');
    await db.raw('select setseed(0.42)');

    let started = Date.now();
    await db.raw(`
      insert into users (id, email, password_hash, role, language, referral_id, bouquet, address, delivery_date, interval, wishes,
                         account_sum_kopecks, created_at, updated_at, amo_lead_id, amo_contact_id, amo_synced_at, last_login_at)
      select ?::bigint + d.g,
             ${pick(NAMES)} || '.' || ${pick(NAMES)} || d.g || '@' || ${pick(DOMAINS)},
             ?, 'customer', case when random() < 0.9 then 'ru' else 'en' end, gen_random_uuid(),
             b.code,
             'г. ' || ${pick(CITIES)} || ', ' || ${pick(KINDS)} || ' ' || ${pick(STREETS)} || ', д. ' || (1 + floor(random() * 150)) || ', кв. ' || (1 + floor(random() * 400)),
             d.first, case when d.r < 0.4 then 'weekly' when d.r < 0.75 then 'biweekly' else 'monthly' end,
             ${pick(WISHES)}, b.price_kopecks,
             least(now(), d.first - make_interval(days => floor(random() * 14)::int) + make_interval(secs => floor(random() * 86400)::int)),
             now(),
             case when random() < 0.9 then 50000000 + ?::bigint + d.g end, case when random() < 0.9 then 80000000 + ?::bigint + d.g end,
             case when random() < 0.9 then now() - make_interval(mins => floor(random() * 50000)::int) end,
             case when random() < 0.7 then now() - make_interval(mins => floor(random() * 500000)::int) end
        from (select g, random() as r, current_date - floor(random() * 730)::int + 30 as first,
                     (array['romantic','seasonal','luxe'])[1 + floor(random() * 3)::int] as code
                from generate_series(1, ?) g) d
        join bouquet_categories b on b.code = d.code`, [base, hash, base, base, customers]);
    await db.raw("select setval(pg_get_serial_sequence('users', 'id'), (select max(id) from users))");
    await db.raw(`update users set referred_by = ?::bigint + 1 + floor(random() * (id - ?::bigint - 1))::bigint
                   where id > ?::bigint + 1 and role = 'customer' and random() < 0.1`, [base, base, base]);
    log(`${customers} customers in ${Date.now() - started} ms`);

    started = Date.now();
    await db.raw(`
      insert into orders (user_id, bouquet, delivery_date, address, wishes, price_kopecks, status, amo_lead_id, created_at, updated_at, confirmed_at, cancelled_at)
      select u.id, b.code, o.day, case when random() < 0.85 then u.address else 'г. Москва, ' || ${pick(KINDS)} || ' ' || ${pick(STREETS)} || ', д. ' || (1 + floor(random() * 150)) end,
             ${pick(WISHES)}, b.price_kopecks, o.status,
             case when o.status = 'confirmed' and random() < 0.95 then 100000000 + o.g end,
             o.day - 5, now(), case when o.status = 'confirmed' then o.day - 4 end, case when o.status = 'cancelled' then o.day - 3 end
        from (select g, ?::bigint + 1 + floor(random() * ?)::bigint as uid, current_date - floor(random() * 700)::int + 30 as day,
                     (array['romantic','seasonal','luxe'])[1 + floor(random() * 3)::int] as code,
                     case when random() < 0.6 then 'confirmed' when random() < 0.6 then 'placed' else 'cancelled' end as status
                from generate_series(1, ?) g) o
        join users u on u.id = o.uid
        join bouquet_categories b on b.code = o.code`, [base, customers, orders]);
    log(`${orders} orders in ${Date.now() - started} ms`);

    started = Date.now();
    // Skips and moves (2 per customer) on the customers' own delivery days, mostly from two months back to half a
    // year ahead, and pauses (1 customer in 10) around today: what "the deliveries of a day" has to leave out.
    const changes = Math.round(customers * 2.1); // a few land on the same delivery and count once
    await db.raw(`
      insert into delivery_exceptions (user_id, scheduled_date, kind, new_date, source, created_at)
      select c.id, c.day, case when c.r < 0.5 then 'skip' else 'move' end, case when c.r >= 0.5 then c.day + 1 + floor(random() * 3)::int end,
             ${pick(['account', 'account', 'mail', 'staff'])}, now()
        from (select u.id, random() as r,
                     case when u.interval = 'monthly' then (u.delivery_date + make_interval(months => greatest(0, s.k)))::date
                          else u.delivery_date + greatest(0, s.k) * case when u.interval = 'weekly' then 7 else 14 end end as day
                from (select ?::bigint + 1 + floor(random() * ?)::bigint as uid, floor(random() * 34)::int - 8 as offset_k from generate_series(1, ?) g) p
                join users u on u.id = p.uid
                cross join lateral (select p.offset_k + floor((current_date - u.delivery_date)
                  / case u.interval when 'weekly' then 7.0 when 'biweekly' then 14.0 else 30.44 end)::int as k) s) c
      on conflict (user_id, scheduled_date) do nothing`, [base, customers, changes]);
    const pauses = Math.round(customers / 9.5); // drawn with repeats
    await db.raw(`
      update users set paused_from = p.from_day, paused_until = p.from_day + 1 + floor(random() * 180)::int
        from (select distinct on (uid) uid, current_date - floor(random() * 60)::int as from_day
                from (select ?::bigint + 1 + floor(random() * ?)::bigint as uid from generate_series(1, ?) g) q) p
       where users.id = p.uid`, [base, customers, pauses]);
    const { rows: [made] } = await db.raw('select (select count(*) from delivery_exceptions)::int as changes, (select count(*) from users where paused_from is not null)::int as pauses');
    log(`${made.changes} skips and moves, ${made.pauses} pauses in ${Date.now() - started} ms`);

    started = Date.now();
    const events = Math.round(customers * 3);
    await db.raw(`
      insert into auth_events (at, user_id, event, ip, user_agent)
      select now() - make_interval(mins => floor(random() * 1000000)::int), ?::bigint + 1 + floor(random() * ?)::bigint,
             ${pick(['login_ok', 'login_ok', 'login_ok', 'logout', 'login_fail', 'reset_requested', 'password_changed'])},
             '10.' || floor(random() * 256) || '.' || floor(random() * 256) || '.' || floor(1 + random() * 254), 'Mozilla/5.0 (Linux; Android 13)'
        from generate_series(1, ?) g`, [base, customers, events]);
    await db.raw(`
      insert into amocrm_sync_log (at, task, user_id, job_id, attempt, outcome, http_status, message)
      select now() - make_interval(mins => floor(random() * 1000000)::int), 'amocrm:sync-customer', ?::bigint + 1 + floor(random() * ?)::bigint,
             g::text, 1, case when random() < 0.95 then 'ok' else 'retry' end, case when random() < 0.95 then 200 else 503 end, null
        from generate_series(1, ?) g`, [base, customers, events]);
    log(`${events} sign-in events and ${events} sync log entries in ${Date.now() - started} ms`);

    started = Date.now();
    for (const table of ['users', 'orders', 'delivery_exceptions', 'auth_events', 'amocrm_sync_log']) await db.raw(`vacuum analyze ${table}`);
    log(`vacuum analyze in ${Date.now() - started} ms`);
  } finally {
    await db.destroy();
  }
}

async function createDatabaseIfMissing(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  const server = new URL(url);
  server.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: server.toString() });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('select 1 from pg_database where datname = $1', [name]);
    if (!rowCount) await admin.query(`create database ${admin.escapeIdentifier(name)}`);
  } finally {
    await admin.end();
  }
}

function arg(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

if (import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const url = arg('database-url');
  if (!url) {
    console.error('usage: npx tsx scripts/seed-scale.ts --database-url postgres://…/flowers_scale [--customers 100000] [--orders 1000000]');
    process.exit(2);
  }
  const started = Date.now();
  await seedScale(url, { customers: Number(arg('customers') ?? 100_000), orders: Number(arg('orders') ?? 1_000_000), log: (m) => console.log(m) });
  console.log(`seeded in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
