/**
 * Baseline: a plain `ws` broadcast server, written the way a typical application would write it.
 * Clients pick channels in the URL (`?channels=a,b`); `POST /api/publish` serialises the data once and
 * calls `send` on every socket of the channel (one WebSocket frame per socket per publication).
 * Replies `ok` once subscribed so the load generator knows the connection is ready.
 */
import { createServer } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import { announce, baselineEnv, channelsFromUrl, handlePublish } from './common.js';

const { apiKey, port } = baselineEnv();
const channels = new Map<string, Set<WebSocket>>();

const server = createServer((req, res) =>
  handlePublish(req, res, apiKey, ({ channel, data }) => {
    const subs = channels.get(channel);
    if (!subs) return;
    const text = JSON.stringify(data);
    for (const ws of subs) ws.send(text);
  }),
);

const wss = new WebSocketServer({ server });
wss.on('connection', (ws, req) => {
  const mine = channelsFromUrl(req.url);
  for (const ch of mine) {
    let set = channels.get(ch);
    if (!set) channels.set(ch, (set = new Set()));
    set.add(ws);
  }
  ws.on('close', () => {
    for (const ch of mine) {
      const set = channels.get(ch);
      set?.delete(ws);
      if (set?.size === 0) channels.delete(ch);
    }
  });
  ws.send('ok');
});

server.listen(port, '127.0.0.1', () => {
  const addr = server.address();
  announce(typeof addr === 'object' && addr ? addr.port : port);
});
process.on('SIGTERM', () => process.exit(0));
