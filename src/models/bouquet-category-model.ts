import type { Knex } from 'knex';

export type BouquetCategory = { code: string; nameRu: string; nameEn: string; priceKopecks: number };

type BouquetCategoryRow = { code: string; name_ru: string; name_en: string; price_kopecks: number };

const COLUMNS = ['code', 'name_ru', 'name_en', 'price_kopecks'];

function toCategory(row: BouquetCategoryRow): BouquetCategory {
  return { code: row.code, nameRu: row.name_ru, nameEn: row.name_en, priceKopecks: row.price_kopecks };
}

// The categories change only with a migration, yet nearly every page shows them: each process keeps the list
// for a minute per database instead of asking on every request.
const LIST_TTL_MS = 60_000;
const lists = new WeakMap<object, { until: number; list: Promise<BouquetCategory[]> }>();

export function createBouquetCategoryModel(db: Knex | Knex.Transaction) {
  const load = async () => ((await db('bouquet_categories').select(COLUMNS).orderBy('sort')) as BouquetCategoryRow[]).map(toCategory);
  return {
    async list(): Promise<BouquetCategory[]> {
      if (db.isTransaction) return load();
      const kept = lists.get(db);
      if (kept && kept.until > Date.now()) return kept.list;
      const list = load();
      lists.set(db, { until: Date.now() + LIST_TTL_MS, list });
      list.catch(() => lists.delete(db));
      return list;
    },
    async findByCode(code: string): Promise<BouquetCategory | null> {
      const row: BouquetCategoryRow | undefined = await db('bouquet_categories').select(COLUMNS).where({ code }).first();
      return row ? toCategory(row) : null;
    },
  };
}
