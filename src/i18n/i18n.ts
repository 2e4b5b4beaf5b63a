// Messages and formatting for the two UI languages. Russian is the default.
import ru from './ru.json' with { type: 'json' };
import en from './en.json' with { type: 'json' };

export const LANGUAGES = ['ru', 'en'] as const;
export type Language = (typeof LANGUAGES)[number];
export type MessageKey = keyof typeof ru;
export type Translate = (key: MessageKey, params?: Record<string, string | number>) => string;

const catalogs: Record<Language, Record<string, string>> = { ru, en };

export function isLanguage(value: unknown): value is Language {
  return typeof value === 'string' && (LANGUAGES as readonly string[]).includes(value);
}

export function translator(language: Language): Translate {
  const catalog = catalogs[language];
  return (key, params) => {
    const text = catalog[key] ?? ru[key] ?? key;
    return params ? text.replace(/\{(\w+)\}/g, (m, name: string) => (name in params ? String(params[name]) : m)) : text;
  };
}

const money = {
  ru: new Intl.NumberFormat('ru-RU', { style: 'currency', currency: 'RUB', maximumFractionDigits: 0, minimumFractionDigits: 0 }),
  en: new Intl.NumberFormat('en-GB', { style: 'currency', currency: 'RUB', currencyDisplay: 'narrowSymbol', maximumFractionDigits: 0, minimumFractionDigits: 0 }),
};

/** Kopecks → "5 000 ₽" (whole roubles; kopecks are shown only when there are some). */
export function formatMoney(kopecks: number, language: Language = 'ru'): string {
  const roubles = kopecks / 100;
  if (Number.isInteger(roubles)) return money[language].format(roubles);
  return new Intl.NumberFormat(language === 'ru' ? 'ru-RU' : 'en-GB', {
    style: 'currency', currency: 'RUB', currencyDisplay: 'narrowSymbol', minimumFractionDigits: 2,
  }).format(roubles);
}

const dates = {
  ru: new Intl.DateTimeFormat('ru-RU', { day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' }),
  en: new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' }),
};

/** A calendar date 'YYYY-MM-DD' → "8 октября 2025" (no trailing "г."). */
export function formatDate(isoDate: string, language: Language = 'ru'): string {
  const parts = dates[language].formatToParts(new Date(`${isoDate}T00:00:00Z`));
  const part = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  return `${part('day')} ${part('month')} ${part('year')}`;
}

/** A calendar date 'YYYY-MM-DD' → "12 декабря", with the year only when it is not `year` ("12 января 2027"). */
export function formatDayMonth(isoDate: string, language: Language, year: string): string {
  const full = formatDate(isoDate, language);
  return isoDate.startsWith(`${year}-`) ? full.slice(0, full.lastIndexOf(' ')) : full;
}

// Building an Intl.DateTimeFormat costs far more than using one: one of each per time zone, made once.
const dayFormats = new Map<string, Intl.DateTimeFormat>();
const timeFormats = new Map<string, Intl.DateTimeFormat>();
function dayFormat(timeZone: string): Intl.DateTimeFormat {
  let f = dayFormats.get(timeZone);
  if (!f) dayFormats.set(timeZone, (f = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' })));
  return f;
}

/** A moment → "8 октября 2025, 14:05" in the given time zone. */
export function formatDateTime(moment: Date, timeZone: string, language: Language = 'ru'): string {
  const date = dayFormat(timeZone).format(moment);
  let times = timeFormats.get(timeZone);
  if (!times) timeFormats.set(timeZone, (times = new Intl.DateTimeFormat('ru-RU', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })));
  return `${formatDate(date, language)}, ${times.format(moment)}`;
}

/** Today's calendar date in the given time zone, as 'YYYY-MM-DD'. */
export function todayIn(timeZone: string, now: Date = new Date()): string {
  return dayFormat(timeZone).format(now);
}

/**
 * A stored phone '+7XXXXXXXXXX' → "+7 912 345-67-89" with no-break spaces and hyphens (a number never breaks across
 * lines, on screen or on paper); `plain` gives ordinary ones (for a file). Anything else is returned as it is.
 */
export function formatPhone(phone: string, { plain = false } = {}): string {
  const m = /^\+7(\d{3})(\d{3})(\d{2})(\d{2})$/.exec(phone);
  const [space, hyphen] = plain ? [' ', '-'] : ['\u00a0', '\u2011'];
  return m ? `+7${space}${m[1]}${space}${m[2]}${hyphen}${m[3]}${hyphen}${m[4]}` : phone;
}
