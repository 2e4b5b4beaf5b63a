// What a customer sees of their account.
import type { Knex } from 'knex';
import type { Language } from '../i18n/i18n.js';
import { createBouquetCategoryModel } from '../models/bouquet-category-model.js';
import { createUserModel } from '../models/user-model.js';
import { categoryName } from './catalog-service.js';

export function createAccountService({ db, appUrl }: { db: Knex; appUrl: string }) {
  const users = createUserModel(db);
  const categories = createBouquetCategoryModel(db);
  return {
    async dashboard(userId: number, language: Language) {
      const user = await users.findById(userId);
      if (!user) throw new Error(`no user ${userId}`);
      const category = user.bouquet ? await categories.findByCode(user.bouquet) : null;
      return {
        email: user.email,
        accountSumKopecks: user.accountSumKopecks,
        referralLink: `${appUrl}/${user.referralId}`,
        referredCount: await users.countReferred(user.id),
        preferences: {
          bouquet: category ? categoryName(category, language) : user.bouquet,
          address: user.address,
          deliveryDate: user.deliveryDate,
          interval: user.interval,
          wishes: user.wishes,
        },
      };
    },
  };
}

export type AccountService = ReturnType<typeof createAccountService>;
