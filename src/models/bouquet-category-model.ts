import type { Knex } from 'knex';

export type BouquetCategory = { code: string; nameRu: string; nameEn: string; priceKopecks: number };

type BouquetCategoryRow = { code: string; name_ru: string; name_en: string; price_kopecks: number };

const COLUMNS = ['code', 'name_ru', 'name_en', 'price_kopecks'];

function toCategory(row: BouquetCategoryRow): BouquetCategory {
  return { code: row.code, nameRu: row.name_ru, nameEn: row.name_en, priceKopecks: row.price_kopecks };
}

export function createBouquetCategoryModel(db: Knex | Knex.Transaction) {
  return {
    async list(): Promise<BouquetCategory[]> {
      const rows: BouquetCategoryRow[] = await db('bouquet_categories').select(COLUMNS).orderBy('sort');
      return rows.map(toCategory);
    },
    async findByCode(code: string): Promise<BouquetCategory | null> {
      const row: BouquetCategoryRow | undefined = await db('bouquet_categories').select(COLUMNS).where({ code }).first();
      return row ? toCategory(row) : null;
    },
  };
}
