import type { Request, Response } from 'express';
import type { CatalogService } from '../services/catalog-service.js';

export function createHomeController({ catalog }: { catalog: CatalogService }) {
  return {
    async show(_req: Request, res: Response) {
      res.render('home/show', { categories: await catalog.listCategories(res.locals.lang) });
    },
  };
}
