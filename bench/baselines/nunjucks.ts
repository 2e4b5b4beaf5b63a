// Baseline 2: bare Express + Nunjucks rendering the app's own login template (views/sessions/new.njk with its
// layout and partials) with the locals the app gives it — everything the page needs and nothing else: no
// security headers, session, CSRF check, language choice or request log.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import express from 'express';
import nunjucks from 'nunjucks';
import { findProjectRoot } from '../../src/config.js';
import { formatDate, formatDateTime, formatMoney, translator } from '../../src/i18n/i18n.js';
import { createAssets } from '../../src/middleware/assets.js';

const root = findProjectRoot();
const app = express();
const views = nunjucks.configure(path.join(root, 'views'), { autoescape: true, throwOnUndefined: false, noCache: false });
views.express(app);
app.set('view engine', 'njk');
views.addGlobal('stylesheetUrl', createAssets(path.join(root, 'public')).stylesheetUrl);
views.addGlobal('appUrl', 'https://flowers.test');
const t = translator('ru');

app.get('/login', (req, res) => {
  // A new visitor gets a new token, as in the app.
  const token = randomBytes(32).toString('hex');
  res.render('sessions/new', {
    lang: 'ru', t, csrfToken: () => token, takeFlash: () => undefined, currentUser: null, values: {}, errors: {}, next: '', notice: null, path: req.path,
    languageSwitch: { lang: 'en', href: `${req.path}?lang=en` },
    money: (k: number) => formatMoney(k, 'ru'), date: (d: string) => formatDate(d, 'ru'), dateTime: (m: Date) => formatDateTime(m, 'Europe/Moscow', 'ru'),
  });
});
const server = app.listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
