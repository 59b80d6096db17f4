// Fastify 5 as its docs recommend: a response schema for JSON (fast-json-stringify),
// hooks for cross-cutting work, @fastify/static for files.
import Fastify from 'fastify';
import fastifyStatic from '@fastify/static';
import createError from 'http-errors';
import { HELLO, MESSAGE, MW_LAYERS, ROUTE_COUNT, parseArgs, ready } from './common.mjs';

const { variant, port, staticDir } = parseArgs(['base', 'mw10', 'router100', 'static']);
const app = Fastify({ logger: false });

if (variant === 'base') {
  app.get('/', async () => HELLO);
  app.get(
    '/json',
    { schema: { response: { 200: { type: 'object', properties: { message: { type: 'string' } } } } } },
    async () => MESSAGE,
  );
  app.post('/echo', async (request) => request.body);
  app.get('/error', async () => { throw createError(404); });
} else if (variant === 'mw10') {
  // Fastify has no onion: the equivalent of a layer is an onRequest hook (before) and an
  // onSend hook (after). Ten of each.
  app.decorateRequest('depth', 0);
  for (let i = 0; i < MW_LAYERS; i++) {
    app.addHook('onRequest', (request, reply, done) => { request.depth += 1; done(); });
    app.addHook('onSend', (request, reply, payload, done) => { request.depth -= 1; done(null, payload); });
  }
  app.get('/', async (request, reply) => {
    reply.header('x-depth', String(request.depth));
    return HELLO;
  });
} else if (variant === 'router100') {
  for (let i = 0; i < ROUTE_COUNT; i++) app.get(`/route${i}/:id`, async (request) => request.params.id);
} else {
  app.register(fastifyStatic, { root: staticDir, prefix: '/static/' });
}

app.listen({ port, host: '127.0.0.1' }).then(() => ready(port));
