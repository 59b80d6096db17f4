// Express 5 + undici: an async handler (Express 5 forwards rejections to next(err)).
import express from 'express';
import { HELLO, dashboard, parsePort, ready } from './common.mjs';

const port = parsePort();
const app = express();
app.get('/dashboard/:id', async (req, res) => {
  res.json(await dashboard(req.params.id));
});
app.get('/plaintext', (req, res) => { res.type('text/plain').send(HELLO); });
app.listen(port, '127.0.0.1', () => ready(port));
