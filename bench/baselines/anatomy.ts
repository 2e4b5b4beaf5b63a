// The app's GET /login built up one layer at a time (ANATOMY_STEP=0…5), with the app's own middleware from
// src/, to show what each layer costs next to the bare Express + Nunjucks baseline (step 0):
//   0 Nunjucks render of sessions/new        3 + request log (one JSON line per request)
//   1 + security headers (computed once)      4 + body parser, PostgreSQL session middleware, language, origin
//   2 + public/ assets handler                  check, CSRF middleware, locals: the page rendered per request
//                                            5 steps 0–3 + the visitor page cache: the app's GET /login
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import express from 'express';
import nunjucks from 'nunjucks';
import { findProjectRoot } from '../../src/config.js';
import { createDb } from '../../src/db.js';
import { formatDate, formatDateTime, formatMoney, translator } from '../../src/i18n/i18n.js';
import { createLogger } from '../../src/logger.js';
import { createAssets } from '../../src/middleware/assets.js';
import { csrfProtection, sameOrigin } from '../../src/middleware/csrf.js';
import { language, rememberedLanguage } from '../../src/middleware/language.js';
import { locals } from '../../src/middleware/locals.js';
import { visitorPageCache } from '../../src/middleware/page-cache.js';
import { requestLog } from '../../src/middleware/request-log.js';
import { securityHeaders } from '../../src/middleware/security-headers.js';
import { sessions } from '../../src/middleware/session.js';

const step = Number(process.env.ANATOMY_STEP ?? 0);
const root = findProjectRoot();
const app = express();
app.disable('x-powered-by');
app.set('trust proxy', 'loopback');
const views = nunjucks.configure(path.join(root, 'views'), { autoescape: true, throwOnUndefined: false, noCache: false });
views.express(app);
app.set('view engine', 'njk');
const assets = createAssets(path.join(root, 'public'));
views.addGlobal('stylesheetUrl', assets.stylesheetUrl);
views.addGlobal('appUrl', 'https://flowers.test');
const db = step === 4 ? createDb(process.env.DATABASE_URL!) : undefined;

if (step >= 1) app.use(securityHeaders({ production: true }));
if (step >= 2) app.use(assets.handler());
if (step >= 3) app.use(requestLog(createLogger({ level: 'info' })));
if (step === 5) app.use(visitorPageCache({ paths: ['/login'], sessionCookie: '__Host-sid', languageOf: rememberedLanguage }).middleware);
if (step >= 4) app.use(language({ secureCookies: true, timeZone: 'Europe/Moscow' }));
if (step === 4) {
  app.use(express.urlencoded({ extended: true, limit: '32kb', parameterLimit: 200 }));
  app.use(sessions({ db: db!, secrets: [process.env.SESSION_SECRET!], production: true }));
  const csrf = csrfProtection({ skip: () => false });
  app.use(sameOrigin('https://flowers.test', { skip: () => false }));
  app.use(csrf.protect);
  app.use(locals(csrf.generateToken));
}

const t = translator('ru');
app.get('/login', (req, res) => {
  res.set('Cache-Control', 'no-store');
  if (step === 4) return res.render('sessions/new', { values: {}, errors: {}, next: '', notice: null });
  const token = randomBytes(32).toString('hex');
  res.render('sessions/new', {
    lang: 'ru', t, csrfToken: () => token, takeFlash: () => undefined, currentUser: null, values: {}, errors: {}, next: '', notice: null, path: req.path,
    languageSwitch: { lang: 'en', href: `${req.path}?lang=en` },
    money: (k: number) => formatMoney(k, 'ru'), date: (d: string) => formatDate(d, 'ru'), dateTime: (m: Date) => formatDateTime(m, 'Europe/Moscow', 'ru'),
  });
});
const server = app.listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write(`anatomy step ${step} listening\n`));
process.on('SIGTERM', () => server.close(async () => {
  await db?.destroy();
  process.exit(0);
}));
