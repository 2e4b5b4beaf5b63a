import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { ConfigError, loadConfig, readEnvironment } from '../src/config.js';

const tempRoot = () => mkdtempSync(path.join(os.tmpdir(), 'flowers-config-'));

describe('loadConfig', () => {
  it('when nothing is configured in development, then it uses the documented defaults and generates secrets once into var/', () => {
    const root = tempRoot();
    const config = loadConfig({}, { root });
    expect(config.env).to.equal('development');
    expect(config.port).to.equal(3000);
    expect(config.host).to.equal('127.0.0.1');
    expect(config.appUrl).to.equal('http://localhost:3000');
    expect(config.databaseUrl).to.equal(null);
    expect(config.smtpUrl).to.equal(null);
    expect(config.amocrm.baseUrl).to.equal(null);
    expect(config.amocrm.redirectUri).to.equal('http://localhost:3000/staff/amocrm/callback');
    expect(config.amocrm.authUrl).to.equal('https://www.amocrm.ru/oauth');
    expect(config.trustProxy).to.equal(false);
    expect(config.shopTimeZone).to.equal('Europe/Moscow');
    expect(config.sessionSecrets).to.have.length(1);
    expect(config.sessionSecrets[0]).to.have.length.greaterThanOrEqual(32);
    const secretFile = path.join(root, 'var', 'session-secret');
    expect(statSync(secretFile).mode & 0o777).to.equal(0o600);
    expect(loadConfig({}, { root }).sessionSecrets).to.deep.equal(config.sessionSecrets);
    expect(loadConfig({}, { root }).amocrm.webhookSecret).to.equal(config.amocrm.webhookSecret);
  });

  it('when loaded, then the result is frozen all the way down', () => {
    const config = loadConfig({}, { root: tempRoot() });
    expect(Object.isFrozen(config)).to.equal(true);
    expect(Object.isFrozen(config.amocrm)).to.equal(true);
    expect(Object.isFrozen(config.sessionSecrets)).to.equal(true);
  });

  it('when production has nothing set, then it refuses with every missing variable in one message', () => {
    let error: unknown;
    try {
      loadConfig({ NODE_ENV: 'production' }, { root: tempRoot() });
    } catch (e) {
      error = e;
    }
    expect(error).to.be.instanceOf(ConfigError);
    const text = (error as ConfigError).message;
    for (const name of ['APP_URL', 'DATABASE_URL', 'SESSION_SECRET', 'SMTP_URL', 'MAIL_FROM', 'AMOCRM_BASE_URL',
      'AMOCRM_LONG_LIVED_TOKEN', 'AMOCRM_WEBHOOK_SECRET', 'OPERATOR_NAME', 'OPERATOR_ADDRESS', 'OPERATOR_INN', 'OPERATOR_EMAIL']) {
      expect(text, name).to.include(name);
    }
    expect((error as ConfigError).problems).to.have.length(12);
  });

  it('when production values are weak, then each weakness is listed', () => {
    const env = {
      NODE_ENV: 'production', APP_URL: 'http://shop.example', DATABASE_URL: 'postgres://db/flowers',
      SESSION_SECRET: 'short', SMTP_URL: 'smtp://mail', MAIL_FROM: 'shop@example.ru', AMOCRM_BASE_URL: 'https://shop.amocrm.ru',
      AMOCRM_CLIENT_ID: 'id-only', AMOCRM_WEBHOOK_SECRET: 'tiny', TRUST_PROXY: 'true',
    };
    const problems = (() => {
      try {
        loadConfig(env, { root: tempRoot() });
        return [];
      } catch (e) {
        return [...(e as ConfigError).problems];
      }
    })();
    expect(problems.join('\n')).to.match(/APP_URL must start with https/)
      .and.match(/SESSION_SECRET/).and.match(/AMOCRM_CLIENT_ID and AMOCRM_CLIENT_SECRET/)
      .and.match(/AMOCRM_WEBHOOK_SECRET must be at least 32/).and.match(/TRUST_PROXY=true/);
  });

  it('when production is fully configured, then it starts with those values and secret rotation lists', () => {
    const secret = 'x'.repeat(40);
    const config = loadConfig({
      NODE_ENV: 'production', APP_URL: 'https://flowers.example/', DATABASE_URL: 'postgres://db/flowers',
      SESSION_SECRET: `${secret}, ${'y'.repeat(32)}`, SMTP_URL: 'smtp://mail', MAIL_FROM: 'shop@example.ru',
      AMOCRM_BASE_URL: 'https://shop.amocrm.ru', AMOCRM_LONG_LIVED_TOKEN: 'token', AMOCRM_WEBHOOK_SECRET: 'w'.repeat(32),
      TRUST_PROXY: 'loopback', PORT: '8080', OPERATOR_NAME: 'ООО «Цветы по подписке»', OPERATOR_ADDRESS: '190000, г. Санкт-Петербург, ул. Цветочная, д. 5', OPERATOR_INN: '7801234567', OPERATOR_EMAIL: 'privacy@flowers.test',
    }, { root: tempRoot() });
    expect(config.production).to.equal(true);
    expect(config.appUrl).to.equal('https://flowers.example');
    expect(config.sessionSecrets).to.deep.equal([secret, 'y'.repeat(32)]);
    expect(config.trustProxy).to.equal('loopback');
    expect(config.port).to.equal(8080);
  });

  describe('the personal-data operator and analytics', () => {
    const operator = { OPERATOR_NAME: 'ООО «Цветы»', OPERATOR_ADDRESS: 'г. Москва, ул. Садовая, 1', OPERATOR_INN: '7701234567', OPERATOR_EMAIL: 'dpo@flowers.example' };
    const productionEnv = {
      NODE_ENV: 'production', APP_URL: 'https://flowers.example', DATABASE_URL: 'postgres://db/flowers', SESSION_SECRET: 'x'.repeat(40),
      SMTP_URL: 'smtp://mail', MAIL_FROM: 'shop@example.ru', AMOCRM_BASE_URL: 'https://shop.amocrm.ru', AMOCRM_LONG_LIVED_TOKEN: 'token',
      AMOCRM_WEBHOOK_SECRET: 'w'.repeat(32), TRUST_PROXY: 'loopback', ...operator,
    };
    const problemsOf = (env: Record<string, string | undefined>): string[] => {
      try {
        loadConfig({ ...productionEnv, ...env }, { root: tempRoot() });
        return [];
      } catch (e) {
        return [...(e as ConfigError).problems];
      }
    };

    it('when production lacks any OPERATOR_* variable, then it refuses to start naming it', () => {
      for (const name of Object.keys(operator)) {
        const problems = problemsOf({ [name]: undefined });
        expect(problems, name).to.have.length(1);
        expect(problems[0], name).to.match(new RegExp(`^${name} is required in production`));
        expect(problemsOf({ [name]: ' ' }), `${name} blank`).to.have.length(1);
      }
      expect(problemsOf({})).to.deep.equal([]);
      const config = loadConfig(productionEnv, { root: tempRoot() });
      expect(config.operator).to.deep.equal({ name: 'ООО «Цветы»', address: 'г. Москва, ул. Садовая, 1', inn: '7701234567', email: 'dpo@flowers.example', example: false });
    });

    it('when OPERATOR_INN or OPERATOR_EMAIL is malformed, then it is refused in any environment', () => {
      expect(problemsOf({ OPERATOR_INN: '12345' })).to.deep.equal(['OPERATOR_INN must be 10 or 12 digits (got "12345")']);
      expect(problemsOf({ OPERATOR_EMAIL: 'not an email' })).to.deep.equal(['OPERATOR_EMAIL is not an email address (got "not an email")']);
      expect(() => loadConfig({ OPERATOR_INN: '77-01' }, { root: tempRoot() })).to.throw(ConfigError, /OPERATOR_INN/);
    });

    it('in development the operator defaults are examples, and analytics is off unless Metrica or GA4 is named', () => {
      const config = loadConfig({}, { root: tempRoot() });
      expect(config.operator.example).to.equal(true);
      expect(config.operator.email).to.equal('privacy@example.ru');
      expect(config.analytics).to.deep.equal({ enabled: false, metrica: null, ga4: null });
      expect(loadConfig({ ...operator }, { root: tempRoot() }).operator.example).to.equal(false);
      expect(loadConfig({ METRICA_COUNTER_ID: '123', METRICA_MP_TOKEN: 't' }, { root: tempRoot() }).analytics).to.deep.equal({
        enabled: true, metrica: { counterId: '123', token: 't', endpoint: 'https://mc.yandex.ru/collect' }, ga4: null,
      });
      expect(loadConfig({ GA4_MEASUREMENT_ID: 'G-ABC123', GA4_API_SECRET: 's', GA4_ENDPOINT: 'https://sgtm.flowers.example/' }, { root: tempRoot() }).analytics).to.deep.equal({
        enabled: true, metrica: null, ga4: { measurementId: 'G-ABC123', apiSecret: 's', endpoint: 'https://sgtm.flowers.example' },
      });
    });

    it('when an analytics destination is half configured or malformed, then it refuses to start naming what is missing', () => {
      const problems = (env: Record<string, string>) => {
        try {
          loadConfig(env, { root: tempRoot() });
          return [];
        } catch (e) {
          return [...(e as ConfigError).problems];
        }
      };
      expect(problems({ METRICA_COUNTER_ID: '123' })).to.deep.equal(['METRICA_COUNTER_ID and METRICA_MP_TOKEN must be set together (set: METRICA_COUNTER_ID)']);
      expect(problems({ METRICA_ENDPOINT: 'http://127.0.0.1:9/collect' })).to.deep.equal(['METRICA_COUNTER_ID and METRICA_MP_TOKEN must be set together (set: METRICA_ENDPOINT)']);
      expect(problems({ GA4_API_SECRET: 's' })).to.deep.equal(['GA4_MEASUREMENT_ID and GA4_API_SECRET must be set together (set: GA4_API_SECRET)']);
      expect(problems({ METRICA_COUNTER_ID: 'abc', METRICA_MP_TOKEN: 't' })).to.deep.equal(['METRICA_COUNTER_ID must be the counter\'s number (got "abc")']);
      expect(problems({ GA4_MEASUREMENT_ID: 'UA-1', GA4_API_SECRET: 's' })).to.deep.equal(['GA4_MEASUREMENT_ID must look like G-XXXXXXXX (got "UA-1")']);
      expect(problems({ GA4_MEASUREMENT_ID: 'G-ABC123', GA4_API_SECRET: 's', GA4_ENDPOINT: 'not a url' })).to.deep.equal(['GA4_ENDPOINT is not a URL (got "not a url")']);
      expect(problemsOf({ METRICA_COUNTER_ID: '123', METRICA_MP_TOKEN: 't', METRICA_ENDPOINT: 'http://collector.example/collect' }))
        .to.deep.equal(['METRICA_ENDPOINT must start with https:// (got "http://collector.example")']);
    });
  });

  describe('in production, what would send secrets in clear or let visitors choose their IP', () => {
    const production = {
      NODE_ENV: 'production', APP_URL: 'https://flowers.example', DATABASE_URL: 'postgres://db/flowers', SESSION_SECRET: 'x'.repeat(40),
      SMTP_URL: 'smtp://mail', MAIL_FROM: 'shop@example.ru', AMOCRM_BASE_URL: 'https://shop.amocrm.ru', AMOCRM_LONG_LIVED_TOKEN: 'token',
      AMOCRM_WEBHOOK_SECRET: 'w'.repeat(32), TRUST_PROXY: 'loopback', OPERATOR_NAME: 'ООО «Цветы по подписке»', OPERATOR_ADDRESS: '190000, г. Санкт-Петербург, ул. Цветочная, д. 5', OPERATOR_INN: '7801234567', OPERATOR_EMAIL: 'privacy@flowers.test',
    };
    const problemsOf = (env: Record<string, string>): string[] => {
      try {
        loadConfig({ ...production, ...env }, { root: tempRoot() });
        return [];
      } catch (e) {
        return [...(e as ConfigError).problems];
      }
    };

    it('when an amoCRM URL is http://, then it is refused for each of them', () => {
      expect(problemsOf({ AMOCRM_BASE_URL: 'http://shop.amocrm.ru', AMOCRM_AUTH_URL: 'http://www.amocrm.ru/oauth' })).to.deep.equal([
        'AMOCRM_BASE_URL must start with https:// in production (got "http://shop.amocrm.ru")',
        'AMOCRM_AUTH_URL must start with https:// in production (got "http://www.amocrm.ru")',
      ]);
      expect(problemsOf({ AMOCRM_BASE_URL: 'ftp://shop.amocrm.ru' })).to.have.length(1);
      expect(problemsOf({ AMOCRM_AUTH_URL: 'not a url' })).to.deep.equal(['AMOCRM_AUTH_URL is not a URL (got "not a url")']);
    });

    it('when an amoCRM URL is https://, or http:// on a loopback address where nothing crosses a network, then it is accepted', () => {
      expect(problemsOf({ AMOCRM_BASE_URL: 'https://shop.amocrm.ru', AMOCRM_AUTH_URL: 'https://www.amocrm.ru/oauth' })).to.deep.equal([]);
      for (const url of ['http://127.0.0.1:4010', 'http://localhost:4010', 'http://[::1]:4010']) {
        expect(problemsOf({ AMOCRM_BASE_URL: url, AMOCRM_AUTH_URL: `${url}/oauth` }), url).to.deep.equal([]);
      }
      expect(loadConfig({ AMOCRM_BASE_URL: 'http://amocrm.test' }, { root: tempRoot() }).amocrm.baseUrl).to.equal('http://amocrm.test'); // development
    });

    it('when TRUST_PROXY trusts every address, then it is refused', () => {
      for (const value of ['0.0.0.0/0', '::/0', '*', 'loopback, 0.0.0.0/0', '10.0.0.0/0.0.0.0', '1', '2', '::ffff:0:0/96', '0.0.0.0/1, 128.0.0.0/1']) {
        expect(problemsOf({ TRUST_PROXY: value }), value).to.deep.equal([
          `TRUST_PROXY="${value}" trusts every address (anyone could choose their IP for the rate limits); name the proxy, e.g. "loopback" behind nginx`,
        ]);
      }
      expect(problemsOf({ TRUST_PROXY: 'true' })).to.have.length(1);
    });

    it('when TRUST_PROXY names the proxies, then it is accepted; a value Express cannot read is refused in any environment', () => {
      for (const value of ['loopback', '127.0.0.1', 'loopback, 10.0.0.0/8', 'uniquelocal', '192.168.1.10, fd00::/8', 'false', '0']) {
        expect(problemsOf({ TRUST_PROXY: value }), value).to.deep.equal([]);
      }
      expect(loadConfig({ TRUST_PROXY: '1' }, { root: tempRoot() }).trustProxy).to.equal(1); // development: a hop count is the developer's call
      expect(() => loadConfig({ TRUST_PROXY: '0.0.0.0/0' }, { root: tempRoot() })).to.throw(ConfigError, /trusts every address/);
      expect(() => loadConfig({ TRUST_PROXY: 'nginx-box' }, { root: tempRoot() })).to.throw(ConfigError, /TRUST_PROXY is not a list/);
    });
  });

  it('when a value is malformed in any environment, then it is refused', () => {
    expect(() => loadConfig({ PORT: 'eighty' }, { root: tempRoot() })).to.throw(ConfigError, /PORT/);
    expect(() => loadConfig({ LOG_LEVEL: 'loud' }, { root: tempRoot() })).to.throw(ConfigError, /LOG_LEVEL/);
    expect(() => loadConfig({ SHOP_TIME_ZONE: 'Mars/Olympus' }, { root: tempRoot() })).to.throw(ConfigError, /SHOP_TIME_ZONE/);
    expect(() => loadConfig({ DELIVERY_CUTOFF: '24:00' }, { root: tempRoot() })).to.throw(ConfigError, /DELIVERY_CUTOFF/);
    expect(() => loadConfig({ DELIVERY_CUTOFF: '6pm' }, { root: tempRoot() })).to.throw(ConfigError, /DELIVERY_CUTOFF/);
    expect(loadConfig({}, { root: tempRoot() }).deliveryCutoff).to.equal('18:00');
    expect(loadConfig({ DELIVERY_CUTOFF: '09:30' }, { root: tempRoot() }).deliveryCutoff).to.equal('09:30');
  });

  it('REMINDER_DAYS_BEFORE is a whole number of days from 1 to 14, 2 when unset', () => {
    expect(loadConfig({}, { root: tempRoot() }).reminderDaysBefore).to.equal(2);
    expect(loadConfig({ REMINDER_DAYS_BEFORE: '14' }, { root: tempRoot() }).reminderDaysBefore).to.equal(14);
    for (const bad of ['0', '15', '-1', '2.5', 'two', '1e1']) {
      expect(() => loadConfig({ REMINDER_DAYS_BEFORE: bad }, { root: tempRoot() }), bad).to.throw(ConfigError, /REMINDER_DAYS_BEFORE/);
    }
  });

  it('when .env exists in the root, then readEnvironment loads it without overriding the real environment', () => {
    const root = tempRoot();
    writeFileSync(path.join(root, '.env'), 'FLOWERS_TEST_FROM_DOTENV=from-file\nPATH=/should/not/win\n');
    const env = readEnvironment(root);
    expect(env.FLOWERS_TEST_FROM_DOTENV).to.equal('from-file');
    expect(env.PATH).to.not.equal('/should/not/win');
  });

  it('documents every variable it reads in .env.example', () => {
    const source = readFileSync(new URL('../src/config.ts', import.meta.url), 'utf8');
    const example = readFileSync(new URL('../.env.example', import.meta.url), 'utf8');
    const read = [...source.matchAll(/(?:value|required)\('([A-Z_]+)'/g)].map((m) => m[1]!);
    expect(read.length).to.be.greaterThan(10);
    for (const name of new Set(read)) expect(example, name).to.match(new RegExp(`^#? ?${name}=`, 'm'));
  });
});
