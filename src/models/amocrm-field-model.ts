import type { Knex } from 'knex';

/** A lead field of the amoCRM account as mapped to its role: where its values are written, and its options. */
export type MappedField<Role extends string = string> = { role: Role; name: string; fieldId: number; type: string; enums: { id: number; value: string }[] };

/** The field map shared by every process (`amocrm_fields`). */
export function createAmocrmFieldModel<Role extends string>(db: Knex) {
  return {
    async list(): Promise<MappedField<Role>[]> {
      const rows = await db('amocrm_fields').select('role', 'name', 'field_id', 'type', 'enums');
      return rows.map((r) => ({ role: r.role, name: r.name, fieldId: Number(r.field_id), type: r.type, enums: r.enums }));
    },

    /** The map as found now, in place of the stored one. */
    async replaceAll(fields: MappedField<Role>[]): Promise<void> {
      await db.transaction(async (trx) => {
        await trx('amocrm_fields').delete();
        if (fields.length) {
          await trx('amocrm_fields').insert(fields.map((f) => ({ role: f.role, name: f.name, field_id: f.fieldId, type: f.type, enums: JSON.stringify(f.enums) })));
        }
      });
    },

    async clear(): Promise<void> {
      await db('amocrm_fields').delete();
    },
  };
}
