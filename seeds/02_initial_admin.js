// The tenant's first administrator. tenantctl passes the tenant as the second argument:
// { slug, name, plan, metadata }, so `tenantctl create acme --set admin_email=ops@acme.test`
// decides who it is. No password is set: the application sends an invitation.

/**
 * @param {import('knex').Knex} knex
 * @param {{ slug: string, name: string, plan: string | null, metadata: Record<string, unknown> }} tenant
 */
exports.seed = async function seed(knex, tenant) {
  const email = String(tenant.metadata.admin_email ?? `admin@${tenant.slug}.example`);
  await knex('users').insert({ email, name: `${tenant.name} administrator` });
  const user = await knex('users').where({ email }).first('id');
  const admin = await knex('roles').where({ name: 'admin' }).first('id');
  await knex('user_roles').insert({ user_id: user.id, role_id: admin.id });
  await knex('audit_log').insert({
    user_id: user.id,
    action: 'tenant.created',
    entity: 'tenant',
    entity_id: tenant.slug,
    details: JSON.stringify({ plan: tenant.plan }),
  });
};
