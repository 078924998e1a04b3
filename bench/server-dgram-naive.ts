// Baseline for the node:dgram engine: the least a Node server can do per datagram (turn a mode-3
// request into a mode-4 reply in place, origin := transmit, and send it back), with no policy,
// clock or WASM. tock's dgram engine / this = the cost of everything tock adds on that path.
// usage: node dist/bench/server-dgram-naive.js PORT SECONDS
import dgram from "node:dgram";

const port = Number(process.argv[2]);
const seconds = Math.min(3600, Number(process.argv[3] ?? 60));
const socket = dgram.createSocket("udp4");
socket.on("message", (msg, rinfo) => {
  if (msg.length < 48 || (msg[0]! & 7) !== 3) return;
  msg[0] = (msg[0]! & 0x38) | 4;
  msg[1] = 8;
  msg.copy(msg, 24, 40, 48);
  socket.send(msg, 0, 48, rinfo.port, rinfo.address);
});
socket.bind(port, "127.0.0.1", () => {
  socket.setRecvBufferSize(4 << 20);
  socket.setSendBufferSize(4 << 20);
  process.stdout.write("ready\n");
});
setTimeout(() => socket.close(), seconds * 1000).unref();
process.on("SIGTERM", () => socket.close());
