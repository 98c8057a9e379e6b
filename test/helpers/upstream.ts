/** A real HTTP upstream for proxy tests: echoes what it received as JSON, with a few behaviours selected by path. */
import type { Server } from "bun";

export interface Echo {
  method: string;
  path: string;
  query: string;
  headers: Record<string, string>;
  body: string;
  upstream: string;
}

export interface TestUpstream {
  server: Server<undefined>;
  port: number;
  url: string;
  stop(): Promise<void>;
}

/** `/slow/<ms>` waits before answering, `/status/<code>` answers that code; anything else echoes. */
export function startEchoUpstream(name = "upstream"): TestUpstream {
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      const slow = url.pathname.match(/\/slow\/(\d+)/);
      if (slow) await Bun.sleep(Number(slow[1]));
      const status = url.pathname.match(/\/status\/(\d{3})/);
      const echo: Echo = {
        method: req.method,
        path: url.pathname,
        query: url.search,
        headers: Object.fromEntries(req.headers),
        body: await req.text(),
        upstream: name,
      };
      return Response.json(echo, {
        status: status ? Number(status[1]) : 200,
        headers: { "x-upstream": name },
      });
    },
  });
  return {
    server,
    port: server.port!,
    url: `http://127.0.0.1:${server.port}`,
    async stop() {
      await server.stop(true);
    },
  };
}
