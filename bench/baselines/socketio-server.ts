/**
 * Baseline: a Socket.IO server with default options (WebSocket transport only, since the load
 * generator connects straight over WebSocket). Clients pick channels (rooms) in the handshake
 * query (`channels=a,b`); `POST /api/publish` does `io.to(channel).emit('pub', data)`, which encodes once per
 * broadcast. Emits `ready` once the socket has joined its rooms.
 */
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { announce, baselineEnv, handlePublish, parseChannels } from './common.js';

const { apiKey, port } = baselineEnv();

const server = createServer((req, res) => {
  if (req.url?.startsWith('/socket.io/')) return; // engine.io handles its own requests
  handlePublish(req, res, apiKey, ({ channel, data }) => {
    io.to(channel).emit('pub', data);
  });
});
const io = new Server(server, { transports: ['websocket'], serveClient: false });

io.on('connection', (socket) => {
  void socket.join(parseChannels(socket.handshake.query.channels));
  socket.emit('ready');
});

server.listen(port, '127.0.0.1', () => {
  const addr = server.address();
  announce(typeof addr === 'object' && addr ? addr.port : port);
});
process.on('SIGTERM', () => process.exit(0));
