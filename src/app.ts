// The composition root: models → services → controllers, middleware in order, routes, error handler.
import express from 'express';
import nunjucks from 'nunjucks';
import type { Knex } from 'knex';
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import { createAssets } from './middleware/assets.js';
import { errorHandler, notFound } from './middleware/errors.js';
import { language } from './middleware/language.js';
import { requestLog } from './middleware/request-log.js';
import { securityHeaders } from './middleware/security-headers.js';
import { createCatalogService } from './services/catalog-service.js';
import { createHomeController } from './controllers/home-controller.js';
import { createHealthController } from './controllers/health-controller.js';
import { routes } from './routes.js';

export type AppDeps = { config: Config; db: Knex; logger: Logger };

function createControllers({ db }: AppDeps) {
  const catalog = createCatalogService({ db });
  return {
    home: createHomeController({ catalog }),
    health: createHealthController({ db }),
  };
}
export type Controllers = ReturnType<typeof createControllers>;

export function createApp(deps: AppDeps) {
  const { config, logger } = deps;
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
  app.use(language({ secureCookies: config.production, timeZone: config.shopTimeZone }));

  app.use(routes(createControllers(deps)));

  app.use(notFound);
  app.use(errorHandler(logger, config.shopTimeZone));
  return app;
}
