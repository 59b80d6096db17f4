// What every Node peer of the fan-out benchmark shares (mirrors bench/bff/common.py).
// Usage: node <peer>.mjs <port>   with BFF_USERS_URL, BFF_ORDERS_URL, BFF_CATALOG_URL set.
import { Pool } from 'undici';

export const USER_ID_PARAM = 'id';
export const HELLO = 'Hello, World!';

// One keep-alive pool per upstream, sized for 128 concurrent clients (one call each).
function pool(env) {
  const url = process.env[env];
  if (!url) {
    console.error(`set ${env} (the runner does)`);
    process.exit(2);
  }
  return new Pool(url, { connections: 256, pipelining: 1, keepAliveTimeout: 60_000 });
}

export const users = pool('BFF_USERS_URL');
export const orders = pool('BFF_ORDERS_URL');
export const catalog = pool('BFF_CATALOG_URL');

async function getJson(upstream, path) {
  const { statusCode, body } = await upstream.request({ method: 'GET', path });
  if (statusCode !== 200) {
    await body.dump();
    throw new Error(`upstream answered ${statusCode} for ${path}`);
  }
  return body.json();
}

// The fan-out: three calls at once, each body parsed, one merged document.
export async function dashboard(id) {
  const [user, userOrders, recs] = await Promise.all([
    getJson(users, `/users/${encodeURIComponent(id)}`),
    getJson(orders, `/orders?user=${encodeURIComponent(id)}`),
    getJson(catalog, `/recommendations/${encodeURIComponent(id)}`),
  ]);
  return { user, orders: userOrders, recs, missing: [] };
}

export function parsePort() {
  const port = Number(process.argv[2]);
  if (!port) {
    console.error(`usage: node ${process.argv[1]} <port>`);
    process.exit(2);
  }
  return port;
}

export function ready(port) {
  console.log(`listening on 127.0.0.1:${port}`);
}
