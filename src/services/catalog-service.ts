// What the shop sells: bouquet categories with their prices, and the delivery intervals.
import type { Knex } from 'knex';
import { createBouquetCategoryModel, type BouquetCategory } from '../models/bouquet-category-model.js';
import type { Language } from '../i18n/i18n.js';

export const INTERVALS = ['weekly', 'biweekly', 'monthly'] as const;
export type Interval = (typeof INTERVALS)[number];

export type CategoryView = { code: string; name: string; priceKopecks: number };

export function categoryName(category: BouquetCategory, language: Language): string {
  return language === 'en' ? category.nameEn : category.nameRu;
}

export function createCatalogService({ db }: { db: Knex }) {
  const categories = createBouquetCategoryModel(db);
  return {
    async listCategories(language: Language): Promise<CategoryView[]> {
      return (await categories.list()).map((c) => ({ code: c.code, name: categoryName(c, language), priceKopecks: c.priceKopecks }));
    },
  };
}

export type CatalogService = ReturnType<typeof createCatalogService>;
