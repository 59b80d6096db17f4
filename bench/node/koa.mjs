// Koa 3 as its docs write it: @koa/router, @koa/bodyparser, koa-mount + koa-static (with
// koa-etag and koa-conditional-get, since koa-send itself sets no ETag).
import Koa from 'koa';
import { Router } from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import serve from 'koa-static';
import mount from 'koa-mount';
import etag from 'koa-etag';
import conditional from 'koa-conditional-get';
import { HELLO, MESSAGE, MW_LAYERS, ROUTE_COUNT, parseArgs, ready } from './common.mjs';

const { variant, port, staticDir } = parseArgs(['base', 'mw10', 'router100', 'static']);
const app = new Koa();

if (variant === 'base') {
  const router = new Router();
  router.get('/', (ctx) => { ctx.body = HELLO; });
  router.get('/json', (ctx) => { ctx.body = MESSAGE; });
  router.post('/echo', bodyParser(), (ctx) => { ctx.body = ctx.request.body; });
  router.get('/error', (ctx) => { ctx.throw(404); });
  app.use(router.routes()).use(router.allowedMethods());
} else if (variant === 'mw10') {
  const layer = async (ctx, next) => {
    ctx.state.depth = (ctx.state.depth ?? 0) + 1;
    await next();
    ctx.state.depth -= 1;
  };
  for (let i = 0; i < MW_LAYERS; i++) app.use(layer);
  const router = new Router();
  router.get('/', (ctx) => {
    ctx.set('x-depth', String(ctx.state.depth));
    ctx.body = HELLO;
  });
  app.use(router.routes()).use(router.allowedMethods());
} else if (variant === 'router100') {
  const router = new Router();
  for (let i = 0; i < ROUTE_COUNT; i++) router.get(`/route${i}/:id`, (ctx) => { ctx.body = ctx.params.id; });
  app.use(router.routes()).use(router.allowedMethods());
} else {
  app.use(conditional());
  app.use(etag());
  app.use(mount('/static', serve(staticDir)));
}

app.listen(port, '127.0.0.1', () => ready(port));
