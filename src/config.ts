// The only reader of the environment. loadConfig(env) returns a typed, frozen object or throws one
// ConfigError that lists every problem at once.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';

export type Environment = Readonly<Record<string, string | undefined>>;

export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: string[]) {
    super(`Configuration is not usable:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
type LogLevel = (typeof LOG_LEVELS)[number];

/** The folder that holds package.json, found from this file (src/ when run by tsx, dist/src/ when built). */
export function findProjectRoot(from = path.dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`package.json not found above ${from}`);
    dir = parent;
  }
  return dir;
}

/** Reads `.env` from the project root when present (values already in the environment win), then returns the environment. */
export function readEnvironment(root = findProjectRoot()): Environment {
  const file = path.join(root, '.env');
  if (existsSync(file)) process.loadEnvFile(file);
  return process.env;
}

/** A secret kept in var/ so that a development install keeps its sessions across restarts. */
function generatedSecret(varDir: string, name: string): string {
  const file = path.join(varDir, name);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(varDir, { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  return secret;
}

export function loadConfig(env: Environment, options: { root?: string } = {}) {
  const root = options.root ?? findProjectRoot();
  const problems: string[] = [];
  const value = (name: string): string | undefined => {
    const v = env[name]?.trim();
    return v ? v : undefined;
  };

  const varDir = path.resolve(root, value('VAR_DIR') ?? 'var');
  const nodeEnv = value('NODE_ENV') ?? 'development';
  if (!['development', 'production', 'test'].includes(nodeEnv)) {
    problems.push(`NODE_ENV must be development, production or test (got "${nodeEnv}")`);
  }
  const production = nodeEnv === 'production';
  const required = (name: string, why = 'is required in production'): string | undefined => {
    const v = value(name);
    if (!v && production) problems.push(`${name} ${why}`);
    return v;
  };

  const port = Number(value('PORT') ?? '3000');
  if (!Number.isInteger(port) || port < 0 || port > 65535) problems.push(`PORT must be a port number (got "${value('PORT')}")`);
  const host = value('HOST') ?? '127.0.0.1';

  const appUrlText = required('APP_URL') ?? `http://localhost:${port}`;
  let appUrl: URL | undefined;
  try {
    appUrl = new URL(appUrlText);
    if (production && value('APP_URL') && appUrl.protocol !== 'https:') problems.push('APP_URL must start with https:// in production');
  } catch {
    problems.push(`APP_URL is not a URL (got "${appUrlText}")`);
  }

  const databaseUrl = required('DATABASE_URL') ?? null;

  const sessionSecretText = required('SESSION_SECRET');
  const sessionSecrets = sessionSecretText
    ? sessionSecretText.split(',').map((s) => s.trim()).filter(Boolean)
    : production ? [] : [generatedSecret(varDir, 'session-secret')];
  if (sessionSecretText && sessionSecrets.some((s) => s.length < 32)) {
    problems.push('SESSION_SECRET: every comma-separated secret must be at least 32 characters');
  }

  const smtpUrl = required('SMTP_URL') ?? null;
  const mailFrom = required('MAIL_FROM') ?? 'Цветочная подписка <flowers@localhost>';

  /**
   * amoCRM is spoken to with a bearer token and customers' data: in production only over https://, except on a
   * loopback address, where nothing crosses a network (a local TLS tunnel, the simulator in the deploy tests).
   */
  const amoUrl = (name: string, text: string | undefined) => {
    if (!text) return;
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      problems.push(`${name} is not a URL (got "${text}")`);
      return;
    }
    const loopback = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/.test(url.hostname);
    if (production && url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
      problems.push(`${name} must start with https:// in production (got "${url.protocol}//${url.host}")`);
    }
  };
  const amoBaseUrl = required('AMOCRM_BASE_URL', 'is required in production (the amoCRM simulator is refused there)') ?? null;
  amoUrl('AMOCRM_BASE_URL', amoBaseUrl ?? undefined);
  const longLivedToken = value('AMOCRM_LONG_LIVED_TOKEN') ?? null;
  const clientId = value('AMOCRM_CLIENT_ID') ?? null;
  const clientSecret = value('AMOCRM_CLIENT_SECRET') ?? null;
  const oauthParts = [clientId, clientSecret].filter(Boolean).length;
  if (oauthParts === 1) problems.push('AMOCRM_CLIENT_ID and AMOCRM_CLIENT_SECRET must be set together');
  if (production && !longLivedToken && oauthParts < 2) {
    problems.push('AMOCRM_LONG_LIVED_TOKEN or the OAuth pair AMOCRM_CLIENT_ID + AMOCRM_CLIENT_SECRET is required in production');
  }
  const redirectUri = value('AMOCRM_REDIRECT_URI') ?? `${appUrlText.replace(/\/$/, '')}/staff/amocrm/callback`;
  const authUrl = value('AMOCRM_AUTH_URL') ?? 'https://www.amocrm.ru/oauth';
  amoUrl('AMOCRM_AUTH_URL', authUrl);

  const fieldNames = {
    sum: value('AMOCRM_FIELD_SUM') ?? 'Сумма счёта',
    bouquet: value('AMOCRM_FIELD_BOUQUET') ?? 'Выбор букета (категория)',
    address: value('AMOCRM_FIELD_ADDRESS') ?? 'Адрес доставки',
    deliveryDate: value('AMOCRM_FIELD_DELIVERY_DATE') ?? 'Дата доставки',
    interval: value('AMOCRM_FIELD_INTERVAL') ?? 'Интервал поставки букетов',
    wishes: value('AMOCRM_FIELD_WISHES') ?? 'Пожелания к букетам',
    email: value('AMOCRM_FIELD_EMAIL') ?? 'Email',
    referralLink: value('AMOCRM_FIELD_REFERRAL_LINK') ?? 'Реферальная ссылка',
    subscriptionStatus: value('AMOCRM_FIELD_SUBSCRIPTION_STATUS') ?? 'Статус подписки',
    marketingConsent: value('AMOCRM_FIELD_MARKETING_CONSENT') ?? 'Согласие на рассылку',
  };
  /** The pipeline stage (by name) a customer's lead moves to when the subscription is cancelled; none by default. */
  const cancelStage = value('AMOCRM_CANCEL_STAGE') ?? null;
  if (cancelStage !== null && cancelStage.length > 255) problems.push('AMOCRM_CANCEL_STAGE is longer than 255 characters');

  const webhookSecretText = required('AMOCRM_WEBHOOK_SECRET');
  if (webhookSecretText && webhookSecretText.length < 32) problems.push('AMOCRM_WEBHOOK_SECRET must be at least 32 characters');
  const webhookSecret = webhookSecretText ?? (production ? '' : generatedSecret(varDir, 'amocrm-webhook-secret'));

  const trustProxyText = value('TRUST_PROXY');
  if (trustProxyText === 'true') problems.push('TRUST_PROXY=true trusts every client-supplied address; use "loopback" behind nginx');
  const trustProxy: string | number | false =
    trustProxyText === undefined || trustProxyText === 'false' ? false
      : /^\d+$/.test(trustProxyText) ? Number(trustProxyText) : trustProxyText;
  if (trustProxy !== false && trustProxyText !== 'true') {
    const wide = trustsEveryAddress(trustProxy);
    if (wide === undefined) problems.push(`TRUST_PROXY is not a list of addresses, subnets or loopback/linklocal/uniquelocal (got "${trustProxyText}")`);
    else if (wide === 'all' || (wide && production)) {
      problems.push(`TRUST_PROXY="${trustProxyText}" trusts every address (anyone could choose their IP for the rate limits); name the proxy, e.g. "loopback" behind nginx`);
    }
  }

  const logLevel = (value('LOG_LEVEL') ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`);

  const shopTimeZone = value('SHOP_TIME_ZONE') ?? 'Europe/Moscow';
  try {
    new Intl.DateTimeFormat('ru-RU', { timeZone: shopTimeZone });
  } catch {
    problems.push(`SHOP_TIME_ZONE is not a known time zone (got "${shopTimeZone}")`);
  }

  // A delivery can no longer be changed after this time (shop time) on the day before it.
  const deliveryCutoff = value('DELIVERY_CUTOFF') ?? '18:00';
  if (!/^([01]\d|2[0-3]):[0-5]\d$/.test(deliveryCutoff)) problems.push(`DELIVERY_CUTOFF must be a time HH:MM (got "${deliveryCutoff}")`);
  // Reminders go REMINDER_DAYS_BEFORE days ahead: at least 1, so that the mail's skip and move links still work.
  const reminderDaysText = value('REMINDER_DAYS_BEFORE') ?? '2';
  const reminderDaysBefore = Number(reminderDaysText);
  if (!/^\d+$/.test(reminderDaysText) || reminderDaysBefore < 1 || reminderDaysBefore > 14) {
    problems.push(`REMINDER_DAYS_BEFORE must be a whole number of days from 1 to 14 (got "${reminderDaysText}")`);
  }

  // Staff log in with TOTP: always in production; STAFF_2FA=required makes it so elsewhere too (staging, tests).
  const staff2fa = value('STAFF_2FA') ?? 'optional';
  if (!['required', 'optional'].includes(staff2fa)) problems.push('STAFF_2FA must be "required" or "optional"');
  const workerMode = value('WORKER') ?? 'in-process';
  if (!['in-process', 'off'].includes(workerMode)) problems.push('WORKER must be "in-process" or "off"');

  // The personal-data operator named on the policy and the consent texts (152-FZ). A development install shows
  // invented details, marked on every document as examples.
  const operatorParts = {
    name: required('OPERATOR_NAME', 'is required in production (the personal-data operator on the policy and consents)'),
    address: required('OPERATOR_ADDRESS', 'is required in production (the operator\'s address on the policy and consents)'),
    inn: required('OPERATOR_INN', 'is required in production (the operator\'s INN on the policy and consents)'),
    email: required('OPERATOR_EMAIL', 'is required in production (where consents are withdrawn)'),
  };
  if (operatorParts.inn && !/^(\d{10}|\d{12})$/.test(operatorParts.inn)) problems.push(`OPERATOR_INN must be 10 or 12 digits (got "${operatorParts.inn}")`);
  if (operatorParts.email && !/^[^\s@]+@[^\s@]+\.[^\s@]{2,}$/.test(operatorParts.email)) problems.push(`OPERATOR_EMAIL is not an email address (got "${operatorParts.email}")`);
  const operator = {
    name: operatorParts.name ?? 'ООО «Пример Цветы»',
    address: operatorParts.address ?? '123456, г. Москва, ул. Примерная, д. 1',
    inn: operatorParts.inn ?? '7700000000',
    email: operatorParts.email ?? 'privacy@example.ru',
    /** True when any detail is the development default: the documents then say that they are examples. */
    example: Object.values(operatorParts).some((v) => v === undefined),
  };

  // Web analytics from the server (measurement protocols): off unless a destination is fully named; the sign-up
  // form asks for the analytics consent only then. Half a destination is a mistake, not "off".
  const collectorUrl = (name: string, text: string): string | null => {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      problems.push(`${name} is not a URL (got "${text}")`);
      return null;
    }
    const loopback = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/.test(url.hostname);
    if (!['https:', 'http:'].includes(url.protocol) || (production && url.protocol !== 'https:' && !loopback)) {
      problems.push(`${name} must start with https:// (got "${url.protocol}//${url.host}")`);
    }
    return url.toString().replace(/\/$/, '');
  };
  const pair = (names: [string, string], extra: string[] = []) => {
    const [a, b] = names.map((n) => value(n) ?? null);
    const given = [...names, ...extra].filter((n) => value(n));
    if (given.length > 0 && (!a || !b)) problems.push(`${names.join(' and ')} must be set together (set: ${given.join(', ')})`);
    return a && b ? [a, b] as const : null;
  };
  const metricaPair = pair(['METRICA_COUNTER_ID', 'METRICA_MP_TOKEN'], ['METRICA_ENDPOINT']);
  if (value('METRICA_COUNTER_ID') && !/^\d{1,12}$/.test(value('METRICA_COUNTER_ID')!)) problems.push(`METRICA_COUNTER_ID must be the counter's number (got "${value('METRICA_COUNTER_ID')}")`);
  const metricaEndpoint = collectorUrl('METRICA_ENDPOINT', value('METRICA_ENDPOINT') ?? 'https://mc.yandex.ru/collect');
  const ga4Pair = pair(['GA4_MEASUREMENT_ID', 'GA4_API_SECRET'], ['GA4_ENDPOINT']);
  if (value('GA4_MEASUREMENT_ID') && !/^G-[A-Z0-9]{4,20}$/.test(value('GA4_MEASUREMENT_ID')!)) problems.push(`GA4_MEASUREMENT_ID must look like G-XXXXXXXX (got "${value('GA4_MEASUREMENT_ID')}")`);
  const ga4Endpoint = collectorUrl('GA4_ENDPOINT', value('GA4_ENDPOINT') ?? 'https://www.google-analytics.com');
  const metrica = metricaPair && metricaEndpoint ? { counterId: metricaPair[0], token: metricaPair[1], endpoint: metricaEndpoint } : null;
  const ga4 = ga4Pair && ga4Endpoint ? { measurementId: ga4Pair[0], apiSecret: ga4Pair[1], endpoint: ga4Endpoint } : null;

  if (problems.length > 0) throw new ConfigError(problems);

  return deepFreeze({
    env: nodeEnv as 'development' | 'production' | 'test',
    production,
    port,
    host,
    appUrl: appUrl!.origin + appUrl!.pathname.replace(/\/$/, ''),
    appOrigin: appUrl!.origin,
    databaseUrl,
    testDatabaseUrl: value('TEST_DATABASE_URL') ?? null,
    sessionSecrets,
    smtpUrl,
    mailFrom,
    amocrm: { baseUrl: amoBaseUrl, longLivedToken, clientId, clientSecret, redirectUri, authUrl, webhookSecret, fieldNames, cancelStage },
    trustProxy,
    logLevel,
    shopTimeZone,
    deliveryCutoff,
    reminderDaysBefore,
    runWorker: workerMode === 'in-process',
    staffTotpRequired: production || staff2fa === 'required',
    operator,
    /** `enabled`: Metrica or GA4 is configured; only then is the analytics consent asked for and anything sent. */
    analytics: { enabled: Boolean(metrica || ga4), metrica, ga4 },
    /** Started by an npm script (`npm start`): stop when npm goes away, even if it could not pass a signal on. */
    stopWithParent: Boolean(value('npm_lifecycle_event')),
    paths: {
      root,
      varDir,
      views: path.join(root, 'views'),
      public: path.join(root, 'public'),
      migrations: path.join(root, 'migrations'),
    },
  });
}

export type Config = ReturnType<typeof loadConfig>;

/** Addresses no proxy of ours has: documentation ranges, IPv4 and IPv6 (RFC 5737, RFC 3849). */
const ANY_ADDRESSES = ['192.0.2.7', '198.51.100.7', '203.0.113.7', '2001:db8::7'];

/**
 * Whether Express's `trust proxy` with this value trusts a hop from anywhere: 'all' for `*` and a /0 subnet
 * (`0.0.0.0/0`, `::/0`, which Express itself would refuse at start-up), true for what Express reads as trusting
 * the documentation addresses above (a hop count, `::ffff:0:0/96`, halves of the address space), undefined when
 * Express refuses the value.
 */
function trustsEveryAddress(value: string | number): 'all' | boolean | undefined {
  const entries = typeof value === 'string' ? value.split(',').map((e) => e.trim()) : [];
  if (entries.some((e) => e === '*' || /\/(0+|0\.0\.0\.0|::)$/.test(e))) return 'all';
  try {
    const trust = express().set('trust proxy', value).get('trust proxy fn') as (address: string, hop: number) => boolean;
    return ANY_ADDRESSES.some((address) => trust(address, 0));
  } catch {
    return undefined;
  }
}

function deepFreeze<T extends object>(o: T): T {
  for (const v of Object.values(o)) if (v && typeof v === 'object') deepFreeze(v);
  return Object.freeze(o);
}
