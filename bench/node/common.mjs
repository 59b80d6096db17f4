// What every Node peer agrees on (mirrors bench/apps/common.py).
// Usage of each peer: node <peer>.mjs <variant> <port> <staticDir>
export const HELLO = 'Hello, World!';
export const MESSAGE = { message: HELLO };
export const MW_LAYERS = 10;
export const ROUTE_COUNT = 100;

export function parseArgs(variants) {
  const [variant, port, staticDir] = process.argv.slice(2);
  if (!variants.includes(variant) || !port || !staticDir) {
    console.error(`usage: node ${process.argv[1]} <${variants.join('|')}> <port> <staticDir>`);
    process.exit(2);
  }
  return { variant, port: Number(port), staticDir };
}

export function ready(port) {
  // The harness waits for this line (and for the port to answer) before checking endpoints.
  console.log(`listening on 127.0.0.1:${port}`);
}
