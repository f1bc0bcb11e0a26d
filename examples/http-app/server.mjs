// A small multi-tenant HTTP application on tenantctl's registry: the tenant comes from the Host
// header (its indexed `domain` metadata), its data from its own database, as its own user.
//
//   TENANTCTL_REGISTRY_URL=sqlite:.tenantctl/registry.sqlite PORT=3000 node examples/http-app/server.mjs
//   curl -H 'Host: acme.example.com' http://127.0.0.1:3000/
//
// 200 with the tenant's users; 404 for a host no tenant has; 403 for a suspended tenant; 503 for
// one being created or deleted.
import http from 'node:http';
import { openFleet, TenantNotFoundError, TenantSuspendedError, TenantUnavailableError } from 'tenantctl';

const fleet = await openFleet({
  registryUrl: process.env.TENANTCTL_REGISTRY_URL ?? 'sqlite:.tenantctl/registry.sqlite',
  secretKey: process.env.TENANTCTL_SECRET_KEY,
  secretKeyFile: process.env.TENANTCTL_SECRET_KEY_FILE,
  maxConnections: Number(process.env.MAX_CONNECTIONS ?? 20),
  cacheTtlMs: Number(process.env.CACHE_TTL_MS ?? 5000),
  readOnly: true, // the application never changes the registry
});

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(`${JSON.stringify(body)}\n`);
}

/** The tenant's users, as the tenant's own user. */
async function usersOf(slug) {
  const db = await fleet.knex(slug);
  return db('users').select('email', 'name').orderBy('id').limit(50);
}

const server = http.createServer(async (req, res) => {
  const host = (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
  try {
    const tenant = await fleet.resolve({ domain: host });
    let users;
    try {
      users = await usersOf(tenant.slug);
    } catch (error) {
      // The database refused us (a suspension ends sessions and locks the login; a move or a new
      // password changes it) before the cached record expired: read the registry now, try once more.
      fleet.invalidate(tenant.slug);
      users = await usersOf(tenant.slug).catch((again) => {
        throw again instanceof TenantSuspendedError || again instanceof TenantUnavailableError ? again : error;
      });
    }
    send(res, 200, { tenant: tenant.slug, name: tenant.name, users });
  } catch (error) {
    if (error instanceof TenantNotFoundError) send(res, 404, { error: 'no such tenant' });
    else if (error instanceof TenantSuspendedError) send(res, 403, { error: 'this account is suspended' });
    else if (error instanceof TenantUnavailableError) send(res, 503, { error: 'try again shortly' });
    else {
      console.error(`request for ${host} failed: ${error.message}`);
      send(res, 500, { error: 'internal error' });
    }
  }
});

server.listen(Number(process.env.PORT ?? 3000), process.env.HOST ?? '127.0.0.1', () => {
  console.log(JSON.stringify({ listening: server.address().port }));
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    server.close();
    fleet.close().then(() => process.exit(0));
  });
}
