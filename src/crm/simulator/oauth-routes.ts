// The OAuth 2.0 URLs: the consent page (plain HTML, two forms, no JavaScript), its allow/decline answers
// redirecting to the registered redirect_uri, the token endpoint, and the subdomain lookup by refresh token.
import { Router, type Request, type Response } from 'express';
import { isObject } from './custom-fields.js';
import type { OAuth } from './oauth.js';
import { problems, sendProblem } from './problems.js';

const escape = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
const text = (v: unknown) => (typeof v === 'string' ? v : '');

function consentPage(params: { clientId: string; state: string; mode: string; subdomain: string }): string {
  const hidden = [['client_id', params.clientId], ['state', params.state], ['mode', params.mode]]
    .filter(([, v]) => v)
    .map(([name, value]) => `<input type="hidden" name="${name}" value="${escape(value!)}">`)
    .join('');
  return `<!DOCTYPE html>
<html lang="ru">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Предоставление доступа — amoCRM (симулятор)</title>
</head>
<body>
<main>
<h1>Интеграция запрашивает доступ к аккаунту ${escape(params.subdomain)}</h1>
<p>Интеграция <code>${escape(params.clientId)}</code> получит доступ к сделкам, контактам и уведомлениям.</p>
<form method="post" action="/oauth/allow">${hidden}<button type="submit">Разрешить</button></form>
<form method="post" action="/oauth/decline">${hidden}<button type="submit">Отказать</button></form>
</main>
</body>
</html>
`;
}

function unknownClientPage(res: Response): void {
  res.status(400).type('text/html').send(`<!DOCTYPE html>
<html lang="ru">
<head><meta charset="utf-8"><title>Ошибка — amoCRM (симулятор)</title></head>
<body><main><h1>Интеграция не найдена</h1><p>Проверьте параметр client_id.</p></main></body>
</html>
`);
}

export function oauthRoutes(deps: { oauth: OAuth; subdomain: string; accountId: number }): Router {
  const { oauth } = deps;
  const r = Router();

  r.get('/oauth', (req: Request, res: Response) => {
    const q = req.query as Record<string, unknown>;
    if (!oauth.knowsClient(q.client_id)) return unknownClientPage(res);
    res.set('Cache-Control', 'no-store').type('text/html')
      .send(consentPage({ clientId: text(q.client_id), state: text(q.state), mode: text(q.mode), subdomain: deps.subdomain }));
  });

  const decide = (allow: boolean) => (req: Request, res: Response) => {
    const body = isObject(req.body) ? req.body : {};
    if (!oauth.knowsClient(body.client_id)) return unknownClientPage(res);
    const target = new URL(oauth.redirectUri);
    const state = text(body.state);
    if (allow) {
      target.searchParams.set('code', oauth.issueCode());
      if (state) target.searchParams.set('state', state);
      target.searchParams.set('referer', req.get('host') ?? '');
      target.searchParams.set('platform', '1');
      target.searchParams.set('client_id', text(body.client_id));
    } else {
      target.searchParams.set('error', 'access_denied');
      target.searchParams.set('client_id', text(body.client_id));
      if (state) target.searchParams.set('state', state);
    }
    res.redirect(302, target.toString());
  };
  r.post('/oauth/allow', decide(true));
  r.post('/oauth/decline', decide(false));

  r.post('/oauth2/access_token', (req: Request, res: Response) => {
    const body = !res.locals.bodyError && isObject(req.body) ? req.body : {};
    const result = oauth.token(body, req.get('host') ?? 'api-b.amocrm.ru');
    if (!result.ok) return sendProblem(res, result.problem);
    res.status(200).type('application/json').send(JSON.stringify(result.pair));
  });

  r.get('/oauth2/account/current/subdomain', (req: Request, res: Response) => {
    const token = req.get('X-Refresh-Token');
    if (!token || !oauth.knowsRefreshToken(token)) return sendProblem(res, problems.unauthorized());
    const host = req.get('host') ?? '';
    res.status(200).type('application/json').send(JSON.stringify({ id: deps.accountId, subdomain: deps.subdomain, domain: host, top_level_domain: 'ru' }));
  });

  r.all('/oauth2/access_token', (req: Request, res: Response) => {
    res.set('Allow', 'POST');
    sendProblem(res, problems.methodNotAllowed(`Method ${req.method} is not allowed for ${req.protocol}://${req.get('host')}${req.path}`));
  });
  return r;
}
