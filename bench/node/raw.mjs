// The Node ceiling: node:http with hand-written dispatch, no framework.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { HELLO, MESSAGE, MW_LAYERS, ROUTE_COUNT, parseArgs, ready } from './common.mjs';

const { variant, port, staticDir } = parseArgs(['base', 'mw10', 'router100', 'static']);
const TEXT = 'text/plain; charset=utf-8';
const JSON_TYPE = 'application/json; charset=utf-8';

function send(res, status, type, body, extra) {
  const headers = { 'content-type': type, 'content-length': Buffer.byteLength(body) };
  if (extra) Object.assign(headers, extra);
  res.writeHead(status, headers);
  res.end(body);
}

function base(req, res) {
  if (req.method === 'GET' && req.url === '/') return send(res, 200, TEXT, HELLO);
  if (req.method === 'GET' && req.url === '/json') return send(res, 200, JSON_TYPE, JSON.stringify(MESSAGE));
  if (req.method === 'POST' && req.url === '/echo') {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      let data;
      try {
        data = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return send(res, 400, TEXT, 'Bad Request');
      }
      send(res, 200, JSON_TYPE, JSON.stringify(data));
    });
    return;
  }
  send(res, 404, TEXT, 'Not Found');
}

// mw10: ten layers run as a callback chain, each doing work before and after the rest.
function layer(req, res, next) {
  req.depth = (req.depth ?? 0) + 1;
  next();
  req.depth -= 1;
}
function helloDepth(req, res) {
  if (req.url !== '/') return send(res, 404, TEXT, 'Not Found');
  send(res, 200, TEXT, HELLO, { 'x-depth': String(req.depth) });
}
const chain = Array(MW_LAYERS).fill(layer);
function mw10(req, res) {
  const dispatch = (i) => (i === chain.length ? helloDepth(req, res) : chain[i](req, res, () => dispatch(i + 1)));
  dispatch(0);
}

const routes = new Set(Array.from({ length: ROUTE_COUNT }, (_, i) => `route${i}`));
function router100(req, res) {
  const parts = req.url.split('/');
  if (req.method === 'GET' && parts.length === 3 && routes.has(parts[1]) && parts[2]) {
    return send(res, 200, TEXT, parts[2]);
  }
  send(res, 404, TEXT, 'Not Found');
}

const files = new Map([['/static/file10k.txt', path.join(staticDir, 'file10k.txt')]]);
function serveStatic(req, res) {
  const file = files.get(req.url);
  if (!file) return send(res, 404, TEXT, 'Not Found');
  fs.stat(file, (err, st) => {
    if (err) return send(res, 404, TEXT, 'Not Found');
    const etag = `W/"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, { etag });
      return res.end();
    }
    fs.readFile(file, (err2, body) => {
      if (err2) return send(res, 500, TEXT, 'Internal Server Error');
      send(res, 200, TEXT, body, { etag });
    });
  });
}

const handlers = { base, mw10, router100, static: serveStatic };
http.createServer(handlers[variant]).listen(port, '127.0.0.1', () => ready(port));
