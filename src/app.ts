// The composition root: models → services → controllers, middleware in order, routes, error handler.
import express, { type Request, type RequestHandler, type Response } from 'express';
import nunjucks from 'nunjucks';
import type { Knex } from 'knex';
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import { createAssets } from './middleware/assets.js';
import { createAttribution, type AttributionCookie } from './middleware/attribution.js';
import { csrfProtection, isOneClickUnsubscribe, sameOrigin } from './middleware/csrf.js';
import { errorHandler, notFound } from './middleware/errors.js';
import { language, rememberedLanguage } from './middleware/language.js';
import { locals } from './middleware/locals.js';
import { visitorPageCache } from './middleware/page-cache.js';
import { createPassport, type AppPassport } from './middleware/passport.js';
import { createRateLimits } from './middleware/rate-limits.js';
import { requestLog } from './middleware/request-log.js';
import { securityHeaders } from './middleware/security-headers.js';
import { saveBeforeRedirect, SessionUsers, sessionLimits, sessions } from './middleware/session.js';
import { createRateCounterModel } from './models/rate-counter-model.js';
import { createAccountService } from './services/account-service.js';
import { createAnalyticsService } from './services/analytics-service.js';
import { createAuthService } from './services/auth-service.js';
import { createCatalogService } from './services/catalog-service.js';
import { createConsentService } from './services/consent-service.js';
import { createDocuments, type DocumentKind, type DocumentVersion } from './services/documents.js';
import { createJobQueue } from './services/job-queue.js';
import { createMailer } from './services/mailer.js';
import { createPasswordHasher } from './services/passwords.js';
import { createPrivacyService } from './services/privacy-service.js';
import { createAccountDeletionService } from './services/account-deletion-service.js';
import { createCrmEraseService } from './services/crm-erase-service.js';
import { createAccountDeletionController } from './controllers/account-deletion-controller.js';
import { createSubscriptionService } from './services/subscription-service.js';
import { createMailLinks } from './services/mail-links.js';
import { createReminderService } from './services/reminder-service.js';
import { createMailActionService } from './services/mail-action-service.js';
import { createMailActionsController } from './controllers/mail-actions-controller.js';
import { createRemindersController } from './controllers/reminders-controller.js';
import { createAccountsController } from './controllers/accounts-controller.js';
import { createConsentsController } from './controllers/consents-controller.js';
import { createDocumentsController } from './controllers/documents-controller.js';
import { createHealthController } from './controllers/health-controller.js';
import { createHomeController } from './controllers/home-controller.js';
import { createLoginCodesController } from './controllers/login-codes-controller.js';
import { createPasswordResetsController } from './controllers/password-resets-controller.js';
import { createEmailConfirmationsController } from './controllers/email-confirmations-controller.js';
import { createEmailConfirmationService } from './services/email-confirmation-service.js';
import { createRegistrationsController } from './controllers/registrations-controller.js';
import { createSessionsController } from './controllers/sessions-controller.js';
import { createDevicesController } from './controllers/devices-controller.js';
import { createStaffAmocrmController } from './controllers/staff-amocrm-controller.js';
import { createStaffCustomersController } from './controllers/staff-customers-controller.js';
import { createStaffDeliveriesController } from './controllers/staff-deliveries-controller.js';
import { createStaffOverviewController } from './controllers/staff-overview-controller.js';
import { createStaffTotpController } from './controllers/staff-totp-controller.js';
import { createTotpService } from './services/totp-service.js';
import { createDeviceService } from './services/device-service.js';
import { createStaffAuditService } from './services/staff-audit-service.js';
import { createStaffCustomerService } from './services/staff-customer-service.js';
import { createStaffDeliveryService } from './services/staff-delivery-service.js';
import { createStaffOverviewService } from './services/staff-overview-service.js';
import { createOrdersController } from './controllers/orders-controller.js';
import { createPrivacyController } from './controllers/privacy-controller.js';
import { createSubscriptionsController } from './controllers/subscriptions-controller.js';
import { createPreferencesController } from './controllers/preferences-controller.js';
import { createWebhooksController } from './controllers/webhooks-controller.js';
import { createOrderService } from './services/order-service.js';
import { createCrm } from './crm/crm.js';
import type { AmoSettings } from './crm/connection.js';
import { createCrmAdminService } from './services/crm-admin-service.js';
import { createCrmSync } from './services/crm-sync/index.js';
import { createCrmQueue } from './services/crm-sync/queue.js';
import { createLeadHistoryService } from './services/lead-history-service.js';
import { routes } from './routes.js';

/**
 * `amo` replaces the configured amoCRM (the development simulator, or a test's); `documents` the versions of the
 * personal-data documents in force (a test's new version).
 */
export type AppDeps = { config: Config; db: Knex; logger: Logger; amo?: AmoSettings; documents?: Record<DocumentKind, DocumentVersion> };

export function amoSettingsFrom(config: Config): AmoSettings {
  const { baseUrl, longLivedToken, clientId, clientSecret, redirectUri, authUrl } = config.amocrm;
  return { baseUrl, longLivedToken, clientId, clientSecret, redirectUri, authUrl };
}

/** The domain services, shared by the web app and the job worker. */
export function createServices({ config, db, logger, amo, documents: versions }: AppDeps) {
  const jobs = createJobQueue();
  const mailer = createMailer({ config, logger, db });
  const hasher = createPasswordHasher();
  const catalog = createCatalogService({ db });
  const crm = createCrm({ db, settings: amo ?? amoSettingsFrom(config), secrets: config.sessionSecrets, names: config.amocrm.fieldNames, timeZone: config.shopTimeZone });
  const crmQueue = createCrmQueue(jobs);
  const { queueCustomerSync, queueOrderSync } = crmQueue;
  const crmSync = createCrmSync({ db, crm, queue: crmQueue, appUrl: config.appUrl, logger, timeZone: config.shopTimeZone, cancelStage: config.amocrm.cancelStage });
  const crmAdmin = createCrmAdminService({ db, crm, cancelStageProblem: crmSync.outbound.cancelStageProblem, names: config.amocrm.fieldNames });
  const analytics = createAnalyticsService({ db, jobs, config, logger });
  const auth = createAuthService({
    db, jobs, mailer, hasher, appUrl: config.appUrl, codeSecret: config.sessionSecrets[0]!, queueCustomerSync,
    onSignup: [(trx, userId, { attribution, subscriptionKopecks }) => analytics.signedUp(trx, userId, attribution, subscriptionKopecks)],
  });
  const emailConfirmations = createEmailConfirmationService({ db, jobs, mailer, appUrl: config.appUrl, queueCustomerSync });
  const accounts = createAccountService({ db, appUrl: config.appUrl, timeZone: config.shopTimeZone, cutoff: config.deliveryCutoff, queueCustomerSync });
  const subscriptions = createSubscriptionService({
    db, timeZone: config.shopTimeZone, cutoff: config.deliveryCutoff, queueCustomerSync,
    onRecorded: async (trx, event) => {
      if (event.kind === 'pause') await analytics.track(trx, event.userId, 'subscription_pause', { entity: event.id });
      if (event.kind === 'cancel') await analytics.track(trx, event.userId, 'subscription_cancel', { entity: event.id });
    },
  });
  const orders = createOrderService({
    db, timeZone: config.shopTimeZone, queueOrderSync,
    onConfirmed: (trx, userId, order) => analytics.track(trx, userId, 'order_confirmed', { entity: order.id, valueKopecks: order.priceKopecks }),
  });
  const staffAudit = createStaffAuditService({ db });
  const devices = createDeviceService({ db, secret: config.sessionSecrets[0]! });
  const staffDeliveries = createStaffDeliveryService({ db, timeZone: config.shopTimeZone });
  const leadHistory = createLeadHistoryService({ db, crm, jobs });
  const staffCustomers = createStaffCustomerService({ db, crm, timeZone: config.shopTimeZone, queueCustomerSync, leadHistory });
  const staffOverview = createStaffOverviewService({ db, crm, deliveries: staffDeliveries, timeZone: config.shopTimeZone });
  const documents = createDocuments({ viewsDir: config.paths.views, operator: config.operator, current: versions });
  const consents = createConsentService({ db, documents });
  const privacy = createPrivacyService({ db, documents, devices, queueCustomerSync });
  const totp = createTotpService({ db, secrets: config.sessionSecrets });
  const crmErase = createCrmEraseService({ crm, jobs });
  const accountDeletion = createAccountDeletionService({ db, auth, jobs, crmErase });
  const mailLinks = createMailLinks(config.sessionSecrets);
  const reminders = createReminderService({
    db, mailer, links: mailLinks, appUrl: config.appUrl, timeZone: config.shopTimeZone, cutoff: config.deliveryCutoff, daysBefore: config.reminderDaysBefore, logger,
  });
  const mailActions = createMailActionService({ db, links: mailLinks, reminders, subscriptions, timeZone: config.shopTimeZone, cutoff: config.deliveryCutoff });
  return {
    analytics, totp, crmErase, accountDeletion, leadHistory, reminders, mailActions, jobs, mailer, hasher, catalog, crm, crmQueue, crmSync, crmAdmin, auth, emailConfirmations, accounts,
    orders, devices, staffAudit, staffDeliveries, staffCustomers, staffOverview, documents, consents, privacy, subscriptions,
  };
}
export type Services = ReturnType<typeof createServices>;

const isWebhook = (path: string) => path.startsWith('/webhooks/');
const forPeople = (handler: RequestHandler): RequestHandler => (req, res, next) => (isWebhook(req.path) ? next() : handler(req, res, next));

function createControllers({ config, db }: AppDeps, services: Services, passport: AppPassport, cookieName: string, attribution: AttributionCookie) {
  const staffTotp = createStaffTotpController({ totp: services.totp, issuer: new URL(config.appUrl).host, required: config.staffTotpRequired });
  return {
    home: createHomeController({ catalog: services.catalog }),
    health: createHealthController({ db }),
    registrations: createRegistrationsController({
      auth: services.auth, catalog: services.catalog, documents: services.documents, analytics: config.analytics.enabled, timeZone: config.shopTimeZone,
      attribution,
    }),
    documents: createDocumentsController({ documents: services.documents }),
    consents: createConsentsController({ consents: services.consents, documents: services.documents }),
    privacy: createPrivacyController({ privacy: services.privacy, analytics: config.analytics.enabled }),
    staffTotp,
    sessions: createSessionsController({ auth: services.auth, passport, cookieName, secondStep: staffTotp.begin }),
    passwordResets: createPasswordResetsController({ auth: services.auth }),
    emailConfirmations: createEmailConfirmationsController({ confirmations: services.emailConfirmations }),
    loginCodes: createLoginCodesController({ auth: services.auth }),
    accounts: createAccountsController({ auth: services.auth, accounts: services.accounts }),
    accountDeletion: createAccountDeletionController({ deletion: services.accountDeletion, cookieName }),
    reminders: createRemindersController({ reminders: services.reminders }),
    mailActions: createMailActionsController({ mailActions: services.mailActions }),
    devices: createDevicesController({ devices: services.devices }),
    subscriptions: createSubscriptionsController({
      subscriptions: services.subscriptions, accounts: services.accounts, catalog: services.catalog, timeZone: config.shopTimeZone, cutoff: config.deliveryCutoff,
    }),
    preferences: createPreferencesController({ accounts: services.accounts, catalog: services.catalog, timeZone: config.shopTimeZone }),
    orders: createOrdersController({ orders: services.orders, accounts: services.accounts, catalog: services.catalog, timeZone: config.shopTimeZone }),
    webhooks: createWebhooksController({ leadUpdates: services.crmSync.inbound, secret: config.amocrm.webhookSecret }),
    staffAmocrm: createStaffAmocrmController({ crmAdmin: services.crmAdmin, audit: services.staffAudit }),
    staffOverview: createStaffOverviewController({ overview: services.staffOverview, analytics: services.analytics }),
    staffDeliveries: createStaffDeliveriesController({ deliveries: services.staffDeliveries }),
    staffCustomers: createStaffCustomersController({ customers: services.staffCustomers, leadHistory: services.leadHistory }),
  };
}
export type Controllers = ReturnType<typeof createControllers>;

export function createApp(deps: AppDeps) {
  const { config, db, logger } = deps;
  const services = createServices(deps);
  const sessionUsers = new SessionUsers();
  const passport = createPassport(services.auth, sessionUsers);
  const cookieName = config.production ? '__Host-sid' : 'sid';
  const csrf = csrfProtection({ skip: isWebhook });

  const attribution = createAttribution({ secret: config.sessionSecrets[0]!, production: config.production, appUrl: config.appUrl });
  const controllers = createControllers(deps, services, passport, cookieName, attribution);

  const { limiter } = createRateLimits(createRateCounterModel(db));
  const tooMany = (view: string) => (_req: Request, res: Response) =>
    res.status(429).render(view, { values: {}, errors: { _form: 'form.too_many' }, categories: [], intervals: [] });
  const limits = {
    login: limiter({ name: 'login', limit: 10, windowMs: 15 * 60_000, skipSuccessfulRequests: true, onLimit: tooMany('sessions/new') }),
    signup: limiter({ name: 'signup', limit: 10, windowMs: 3600_000, onLimit: (_req, res) => res.status(429).render('errors/429') }),
    // Past the limit the visitor sees the same "sent" page and no mail goes out (S6).
    forgot: limiter({ name: 'forgot', limit: 5, windowMs: 3600_000, onLimit: (_req, res) => res.redirect(303, '/forgot-password/sent') }),
    // Codes by mail: the same rule as forgot-password (the same answer past the limit, nothing queued), and wrong
    // codes from one IP are limited like failed logins, on top of the 5 tries each code allows.
    loginCode: limiter({ name: 'login-code', limit: 5, windowMs: 3600_000, onLimit: controllers.loginCodes.limited }),
    loginCodeVerify: limiter({
      name: 'login-code-verify', limit: 10, windowMs: 15 * 60_000, skipSuccessfulRequests: true,
      onLimit: (req, res) => res.status(429).render('login-codes/verify', { values: { email: typeof req.body?.email === 'string' ? req.body.email.slice(0, 254) : '' }, errors: { _form: 'form.too_many' } }),
    }),
    // Password and email changes and the account's deletion run bcrypt on the current password: 10 a user and 20
    // an IP per 15 minutes, counted together.
    accountChange: [
      limiter({ name: 'account-change', limit: 20, windowMs: 15 * 60_000, onLimit: (_req, res) => res.status(429).render('errors/429') }),
      limiter({ name: 'account-change', perUser: true, limit: 10, windowMs: 15 * 60_000, onLimit: (_req, res) => res.status(429).render('errors/429') }),
    ],
    // A confirmation link sent again: a few an hour per account, so that the button cannot flood an inbox.
    confirmationResend: limiter({ name: 'confirmation-resend', perUser: true, limit: 3, windowMs: 3600_000, onLimit: controllers.emailConfirmations.limited }),
    // The data export reads every table about the customer: a few downloads an hour each.
    dataExport: limiter({ name: 'data-export', perUser: true, methods: ['GET'], limit: 5, windowMs: 3600_000, onLimit: (_req, res) => res.status(429).render('errors/429') }),
  };

  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', config.trustProxy);
  app.set('query parser', 'simple');

  const views = nunjucks.configure(config.paths.views, { autoescape: true, throwOnUndefined: false, noCache: config.env === 'development' });
  views.express(app);
  app.set('view engine', 'njk');
  const assets = createAssets(config.paths.public);
  views.addGlobal('stylesheetUrl', assets.stylesheetUrl);
  views.addGlobal('appUrl', config.appUrl);

  app.use(securityHeaders({ production: config.production }));
  app.use(assets.handler());
  app.use(requestLog(logger));
  // Before the page cache: a first visit from a campaign link or another site gets its first-touch cookie either way.
  app.use(forPeople(attribution.middleware));
  // A visitor's form pages come from memory: no session, passport or database for them (S12, S14).
  app.use(visitorPageCache({
    paths: ['/', '/signup', '/login', '/login/code', '/forgot-password', '/forgot-password/sent', '/privacy', '/consent/personal-data', '/consent/marketing', '/consent/analytics'],
    sessionCookie: cookieName, languageOf: rememberedLanguage,
  }).middleware);
  // amoCRM's webhooks: bracket-form bodies, larger than a person's form, kept raw for the record.
  app.use('/webhooks', express.urlencoded({
    extended: true, limit: '512kb', parameterLimit: 5000,
    verify: (req, _res, buf) => { (req as typeof req & { rawBody?: Buffer }).rawBody = buf; },
  }));
  // A person's requests only: amoCRM's webhooks have no session, user, language or form token.
  app.use(forPeople(express.urlencoded({ extended: true, limit: '32kb', parameterLimit: 200 })));
  app.use(forPeople(sessions({ db, secrets: config.sessionSecrets, production: config.production, users: sessionUsers })));
  app.use(forPeople(passport.initialize()));
  app.use(forPeople(passport.session()));
  app.use(forPeople(sessionLimits));
  app.use(forPeople(saveBeforeRedirect));
  app.use(forPeople(language({ secureCookies: config.production, timeZone: config.shopTimeZone })));
  app.use(sameOrigin(config.appOrigin, { skip: isWebhook, exempt: isOneClickUnsubscribe }));
  app.use(csrf.protect);
  app.use(forPeople(locals(csrf.generateToken)));

  app.use(routes(controllers, limits));

  app.use(notFound);
  app.use(errorHandler(logger, config.shopTimeZone));
  return app;
}

