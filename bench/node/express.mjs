// Express 5 with its defaults (ETag on res.send, x-powered-by), express.json and express.static.
import express from 'express';
import createError from 'http-errors';
import { HELLO, MESSAGE, MW_LAYERS, ROUTE_COUNT, parseArgs, ready } from './common.mjs';

const { variant, port, staticDir } = parseArgs(['base', 'mw10', 'router100', 'static']);
const app = express();

if (variant === 'base') {
  app.get('/', (req, res) => { res.type('text/plain').send(HELLO); });
  app.get('/json', (req, res) => { res.json(MESSAGE); });
  app.post('/echo', express.json(), (req, res) => { res.json(req.body); });
  app.get('/error', () => { throw createError(404); });
} else if (variant === 'mw10') {
  // Express middleware is linear: next() does not return when the rest has run, so a
  // layer has no "after" half without hooking response events. Each layer does the
  // "before" half only; that is the idiom.
  const layer = (req, res, next) => {
    req.depth = (req.depth ?? 0) + 1;
    next();
  };
  for (let i = 0; i < MW_LAYERS; i++) app.use(layer);
  app.get('/', (req, res) => {
    res.set('x-depth', String(req.depth));
    res.type('text/plain').send(HELLO);
  });
} else if (variant === 'router100') {
  for (let i = 0; i < ROUTE_COUNT; i++) {
    app.get(`/route${i}/:id`, (req, res) => { res.type('text/plain').send(req.params.id); });
  }
} else {
  app.use('/static', express.static(staticDir));
}

app.listen(port, '127.0.0.1', () => ready(port));
