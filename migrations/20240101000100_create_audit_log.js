// Example tenant schema: an append-only audit log of what the tenant's users did.

/** @param {import('knex').Knex} knex */
exports.up = async function up(knex) {
  await knex.schema.createTable('audit_log', (t) => {
    t.bigIncrements('id');
    t.integer('user_id').unsigned().references('id').inTable('users').onDelete('SET NULL');
    t.string('action', 64).notNullable();
    t.string('entity', 64);
    t.string('entity_id', 64);
    t.text('details');
    t.timestamp('created_at').notNullable().defaultTo(knex.fn.now());
    t.index(['created_at']);
    t.index(['entity', 'entity_id']);
  });
};

/** @param {import('knex').Knex} knex */
exports.down = async function down(knex) {
  await knex.schema.dropTable('audit_log');
};
