// Every URL of the site on one screen: path → middleware → controller action.
import { Router } from 'express';
import type { Controllers } from './app.js';

export function routes(c: Controllers): Router {
  const r = Router();

  r.get('/', c.home.show);
  r.get('/healthz', c.health.show);

  return r;
}
