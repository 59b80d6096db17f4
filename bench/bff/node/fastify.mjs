// Fastify 5 + undici: an async route returning the merged object (Fastify serialises it).
import Fastify from 'fastify';
import { HELLO, dashboard, parsePort, ready } from './common.mjs';

const port = parsePort();
const app = Fastify({ logger: false });
app.get('/dashboard/:id', async (request) => dashboard(request.params.id));
app.get('/plaintext', async () => HELLO);
app.listen({ port, host: '127.0.0.1' }).then(() => ready(port));
