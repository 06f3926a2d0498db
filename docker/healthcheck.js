// Container health probe without curl (node:*-slim has none). Plain CommonJS so it runs in the runtime image.
//   node docker/healthcheck.js                       → GET http://127.0.0.1:${PORT:-3000}/health/live (the API)
//   node docker/healthcheck.js http://127.0.0.1:9464/health/ready  → any HTTP URL must answer 2xx (the projector)
//   node docker/healthcheck.js tcp://127.0.0.1:2113  → a TCP connect (the embedded event store's gRPC port)
// Exit 0 = healthy, 1 = unhealthy; never waits longer than 3 s.
'use strict';
const http = require('node:http');
const net = require('node:net');

const target = process.argv[2] || `http://127.0.0.1:${process.env.PORT || 3000}/health/live`;
const fail = () => process.exit(1);
setTimeout(fail, 3000).unref();

const url = new URL(target);
if (url.protocol === 'tcp:') {
  const socket = net.connect({ host: url.hostname, port: Number(url.port) }, () => {
    socket.end();
    process.exit(0);
  });
  socket.on('error', fail);
} else {
  http
    .get(url, (res) => {
      res.resume();
      process.exit(res.statusCode >= 200 && res.statusCode < 300 ? 0 : 1);
    })
    .on('error', fail);
}
