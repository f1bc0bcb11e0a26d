// Default roles and what each may do. Seeds receive (knex, tenant); this one needs only knex.

const PERMISSIONS = {
  'users.read': 'See users',
  'users.write': 'Invite, change and deactivate users',
  'roles.write': 'Change roles and their permissions',
  'audit.read': 'Read the audit log',
  'billing.manage': 'Change plan and billing details',
};

const ROLES = {
  admin: { description: 'Full control of the tenant', permissions: Object.keys(PERMISSIONS) },
  member: { description: 'Works in the tenant', permissions: ['users.read'] },
  viewer: { description: 'Read-only access', permissions: ['users.read', 'audit.read'] },
};

/** @param {import('knex').Knex} knex */
exports.seed = async function seed(knex) {
  await knex('permissions').insert(Object.entries(PERMISSIONS).map(([name, description]) => ({ name, description })));
  await knex('roles').insert(Object.entries(ROLES).map(([name, role]) => ({ name, description: role.description })));

  const roles = await knex('roles').select('id', 'name');
  const permissions = await knex('permissions').select('id', 'name');
  const permissionId = new Map(permissions.map((p) => [p.name, p.id]));
  const links = roles.flatMap((role) =>
    ROLES[role.name].permissions.map((name) => ({ role_id: role.id, permission_id: permissionId.get(name) })),
  );
  await knex('role_permissions').insert(links);
};
