/** Reference proxies for scripts/bench-proxy, one per process: `bun bench-proxy.servers.ts <fetch|pipe|client|server> <port> <upstreamPort>`. */
import type { Socket } from "bun";
import { HttpServer } from "../src/proxy/downstream/server";
import { UpstreamClient } from "../src/proxy/upstream/client";

const [mode, portArg, upstreamArg] = process.argv.slice(2);
const port = Number(portArg);
const upstreamPort = Number(upstreamArg);
if (!["fetch", "pipe", "client", "server"].includes(mode ?? "") || !port || !upstreamPort) {
  console.error("usage: bench-proxy.servers.ts <fetch|pipe|client|server> <listen port> <upstream port>");
  process.exit(2);
}
const hostname = "127.0.0.1";
const upstreamUrl = `http://${hostname}:${upstreamPort}`;

/** What a gateway naively does: hand the request to fetch and return its Response. */
function fetchProxy(): void {
  Bun.serve({
    hostname,
    port,
    fetch(req) {
      const url = new URL(req.url);
      return fetch(upstreamUrl + url.pathname + url.search, {
        method: req.method,
        headers: req.headers,
        body: req.body,
        redirect: "manual",
        decompress: false,
      });
    },
  });
}

/** No HTTP at all: each client socket gets its own upstream socket and bytes are copied both ways. */
function bytePipe(): void {
  interface Side {
    peer: Socket<Side> | null;
    pending: Uint8Array[];
  }
  const forward = (to: Socket<Side> | null, from: Side, bytes: Uint8Array) => {
    if (to === null || from.pending.length > 0) from.pending.push(bytes);
    else {
      const n = to.write(bytes);
      if (n < bytes.length) from.pending.push(bytes.subarray(Math.max(n, 0)));
    }
  };
  const flush = (to: Socket<Side>, from: Side) => {
    while (from.pending.length > 0) {
      const bytes = from.pending[0] as Uint8Array;
      const n = to.write(bytes);
      if (n < bytes.length) {
        from.pending[0] = bytes.subarray(Math.max(n, 0));
        return;
      }
      from.pending.shift();
    }
  };
  Bun.listen<Side>({
    hostname,
    port,
    socket: {
      open(client) {
        client.data = { peer: null, pending: [] };
        Bun.connect<Side>({
          hostname,
          port: upstreamPort,
          data: { peer: client, pending: [] },
          socket: {
            open(up) {
              client.data.peer = up;
              flush(up, client.data);
            },
            data(up, bytes) {
              forward(up.data.peer, up.data, bytes);
            },
            drain(up) {
              flush(client, client.data);
              void up;
            },
            close() {
              client.end();
            },
            connectError() {
              client.end();
            },
          },
        });
      },
      data(client, bytes) {
        forward(client.data.peer, client.data, bytes);
      },
      drain(client) {
        const up = client.data.peer;
        if (up !== null) flush(client, up.data);
      },
      close(client) {
        client.data.peer?.end();
      },
    },
  });
}

const client = new UpstreamClient({ poolSize: 512, maxRequests: 10_000, idleTimeoutMs: 60_000 });
const endpoint = { host: hostname, port: upstreamPort, tls: null };
const timeouts = { connect: 60_000, write: 60_000, read: 60_000 };
const hostHeader = `${hostname}:${upstreamPort}`;

/** Bun.serve in front of gw's own upstream client: the client's cost before the full gateway is added. */
function clientProxy(): void {
  Bun.serve({
    hostname,
    port,
    async fetch(req) {
      const url = req.url;
      const target = url.slice(url.indexOf("/", 8));
      const headers: string[] = [];
      for (const [name, value] of req.headers) {
        if (
          name === "host" ||
          name === "connection" ||
          name === "content-length" ||
          name === "transfer-encoding"
        )
          continue;
        headers.push(name, value);
      }
      headers.push("host", hostHeader);
      const res = await client.request(
        endpoint,
        { method: req.method, target, headers, body: req.body === null ? null : req.body },
        timeouts,
      );
      const out: [string, string][] = [];
      const h = res.headers;
      for (let i = 0; i < h.length; i += 2) out.push([h[i] as string, h[i + 1] as string]);
      return new Response(res.body, { status: res.status, statusText: res.statusText, headers: out });
    },
  });
}

/** gw's own HTTP/1.1 server and upstream client with nothing between them: what gw costs before routing and Kong's headers. */
function serverProxy(): void {
  new HttpServer(
    { host: hostname, port, tls: null, proxyProtocol: false },
    {
      refusal: (status) => ({ status, headers: [], body: null }),
      async handle(req) {
        const headers = ["host", hostHeader];
        const flat = req.headers.flat;
        for (let i = 0; i < flat.length; i += 2)
          if (flat[i] !== "host" && flat[i] !== "connection")
            headers.push(flat[i] as string, flat[i + 1] as string);
        const body = req.body;
        const up = await client.request(
          endpoint,
          { method: req.method, target: req.target, headers, body, signal: req.signal },
          timeouts,
        );
        return {
          status: up.status,
          statusText: up.statusText,
          headers: up.headers,
          body: up.body,
          contentLength: up.contentLength,
        };
      },
    },
  );
}

// Exit cleanly on a signal so `--cpu-prof` can write its profile.
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => process.exit(0));

if (mode === "fetch") fetchProxy();
else if (mode === "pipe") bytePipe();
else if (mode === "server") serverProxy();
else clientProxy();
