// Koa 3 + @koa/router + undici: the fan-out as Koa's docs would write it.
import Koa from 'koa';
import { Router } from '@koa/router';
import { HELLO, dashboard, parsePort, ready } from './common.mjs';

const port = parsePort();
const app = new Koa();
const router = new Router();
router.get('/dashboard/:id', async (ctx) => {
  ctx.body = await dashboard(ctx.params.id);
});
router.get('/plaintext', (ctx) => { ctx.body = HELLO; });
app.use(router.routes()).use(router.allowedMethods());
app.listen(port, '127.0.0.1', () => ready(port));
