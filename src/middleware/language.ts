// Chooses the UI language: ?lang= (remembered in a cookie for a year), then the cookie, then Accept-Language;
// Russian by default. Exposes lang, t() and the formatters to the views.
import type { Request, RequestHandler, Response } from 'express';
import { formatDate, formatDateTime, formatMoney, formatPhone, isLanguage, translator, type Language } from '../i18n/i18n.js';

const YEAR_MS = 365 * 24 * 3600 * 1000;

function cookieLanguage(header: string | undefined): string | undefined {
  return header?.split(';').map((c) => c.trim().split('=')).find(([name]) => name === 'lang')?.[1];
}

/** The language of a request without ?lang=: the `lang` cookie, then Accept-Language; Russian by default. */
export function rememberedLanguage(req: Request): Language {
  const remembered = cookieLanguage(req.headers.cookie);
  return isLanguage(remembered) ? remembered : req.acceptsLanguages('ru', 'en') === 'en' ? 'en' : 'ru';
}

export function language(options: { secureCookies: boolean; timeZone: string }): RequestHandler {
  return (req, res, next) => {
    const asked = req.query.lang;
    let lang: Language;
    if (isLanguage(asked)) {
      lang = asked;
      res.cookie('lang', lang, { maxAge: YEAR_MS, httpOnly: true, sameSite: 'lax', secure: options.secureCookies, path: '/' });
    } else {
      lang = rememberedLanguage(req);
    }
    res.vary('Accept-Language').vary('Cookie');
    setLanguageLocals(req, res, lang, options.timeZone);
    next();
  };
}

/**
 * The same page in the other language: the query string is kept, only `lang` changes. An odd or malformed
 * path (`//[`, `//host/x`) gets the home page in that language, never an error or a link off the site.
 */
function switchHref(originalUrl: string, lang: Language): string {
  let url: URL;
  try {
    url = new URL(`http://x${originalUrl.startsWith('/') ? originalUrl : `/${originalUrl}`}`);
  } catch {
    return `/?lang=${lang}`;
  }
  if (url.host !== 'x' || url.pathname.startsWith('//') || url.pathname.startsWith('/\\')) return `/?lang=${lang}`;
  url.searchParams.set('lang', lang);
  return `${url.pathname}${url.search}`;
}

/** The view helpers of one language; also used by the error handler when a request failed before this middleware. */
export function setLanguageLocals(req: Request, res: Response, lang: Language, timeZone: string): void {
  const other: Language = lang === 'ru' ? 'en' : 'ru';
  Object.assign(res.locals, {
    lang,
    t: translator(lang),
    money: (kopecks: number) => formatMoney(kopecks, lang),
    date: (iso: string) => formatDate(iso, lang),
    dateTime: (moment: Date) => formatDateTime(moment, timeZone, lang),
    phone: (value: string) => formatPhone(value),
    languageSwitch: { lang: other, href: switchHref(req.originalUrl, other) },
    path: req.path,
  });
}
