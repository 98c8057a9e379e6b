/** Clients that vanish mid-request or mid-response leave the compiled binary no file descriptors or upstream sockets. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect } from "node:net";
import { type GwProcess, openFds, startDbless, waitFor } from "../helpers/gw";
import {
  MB,
  type RawUpstream,
  rawUpstream,
  sendBlocks,
  settled,
  type UpstreamSide,
} from "../proxy/upstream/raw-upstream";

const CLIENTS = Number(process.env.LEAK_CLIENTS ?? 10_000);
const CONCURRENCY = 50;
const POOL = 8;
/** Descriptors gw may hold beyond its baseline once settled: its idle upstream pool and a little slack. */
const FD_MARGIN = POOL + 4;
const DOWNLOAD = new Uint8Array(MB);

const BIG_MB = 200;
/** How far the upstream got with the big download, and its connection. */
const big = { written: 0, sha: "", side: null as UpstreamSide | null };
let upstream: RawUpstream;
let gw: GwProcess;
let port: number;
/** Upstream connections left mid-exchange (request body incomplete, or answer never sent): none can be reused. */
const stranded = new Set<UpstreamSide>();
/** Resolvers waiting for the upstream to see a request head, by request path. */
const heads = new Map<string, () => void>();

beforeAll(async () => {
  upstream = rawUpstream({
    keepBodies: false,
    onHead(req, conn) {
      if (req.target.startsWith("/upload") || req.target.startsWith("/silent")) stranded.add(conn);
      heads.get(req.target)?.();
    },
    async respond(req, conn) {
      if (req.target.startsWith("/silent")) return;
      if (req.target.startsWith("/big")) {
        big.side = conn;
        await sendBlocks(conn, BIG_MB, big, false);
        return;
      }
      if (req.target.startsWith("/download")) {
        await conn.write(`HTTP/1.1 200 OK\r\nContent-Length: ${DOWNLOAD.length}\r\n\r\n`);
        await conn.write(DOWNLOAD);
        return;
      }
      await conn.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    },
  });
  gw = await startDbless(
    `_format_version: "3.0"\nservices:\n  - url: http://127.0.0.1:${upstream.port}\n    routes: [{ paths: ["/"] }]\n`,
    { args: ["--upstream_keepalive_pool_size", String(POOL)] },
  );
  port = Number(new URL(gw.proxy).port);
});

afterAll(async () => {
  await gw?.kill();
  upstream?.stop();
});

/**
 * One client that leaves early, by `i % 3`: mid-request-body (a Content-Length of 100000 and 100 bytes sent), while
 * waiting for the head of an answer the upstream never gives, or mid-response-body after the first bytes of a 1 MB
 * download. Resolves with the first line the client received, if any.
 */
function abandon(i: number): Promise<string> {
  const mode = i % 3;
  return new Promise<string>((resolve) => {
    let first = "";
    const socket = connect(port, "127.0.0.1");
    const leave = () => socket.destroy();
    // A reset from gw after we left is expected; only what arrived before matters.
    socket.on("error", () => {});
    socket.on("close", () => resolve(first));
    if (mode === 0) {
      socket.write(
        `POST /upload/${i} HTTP/1.1\r\nHost: gw\r\nContent-Length: 100000\r\n\r\n${"x".repeat(100)}`,
        // gw may forward the head at once or hold it until the body is complete (as nginx buffers): don't wait for it.
        () => setTimeout(leave, 1),
      );
    } else if (mode === 1) {
      heads.set(`/silent/${i}`, leave);
      socket.write(`GET /silent/${i} HTTP/1.1\r\nHost: gw\r\n\r\n`);
    } else {
      socket.once("data", (d) => {
        first = d.toString("latin1").split("\r\n")[0] ?? "";
        leave();
      });
      socket.write(`GET /download/${i} HTTP/1.1\r\nHost: gw\r\n\r\n`);
    }
  }).finally(() => heads.delete(`/silent/${i}`));
}

const settledFds = () =>
  waitFor("gw's descriptors to stop changing", async () => {
    const a = openFds(gw.proc.pid);
    await Bun.sleep(200);
    return openFds(gw.proc.pid) === a && a;
  });

test(`${CLIENTS} clients leaving mid-request and mid-response: gw's descriptors and upstream sockets return to baseline`, async () => {
  // Warm up every path so lazily opened descriptors (timers, the pool's first socket) are in the baseline.
  for (let i = 0; i < 6; i++) await abandon(i);
  expect(await (await fetch(`${gw.proxy}/ok`)).text()).toBe("ok");
  const baseline = await settledFds();

  const firstLines = new Map<string, number>();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < CLIENTS) {
        const i = next++;
        const line = await abandon(i);
        if (i % 3 === 2) firstLines.set(line, (firstLines.get(line) ?? 0) + 1);
      }
    }),
  );
  // Every download had started (a 200 head arrived) before its client left.
  expect([...firstLines.keys()]).toEqual(["HTTP/1.1 200 OK"]);

  await waitFor(
    `gw's descriptors back within ${FD_MARGIN} of its baseline ${baseline}`,
    () => openFds(gw.proc.pid) <= baseline + FD_MARGIN,
    30_000,
  );
  // Every never-answered request reached the upstream, so the check below covers at least those.
  expect(stranded.size).toBeGreaterThanOrEqual(Math.floor(CLIENTS / 3));
  await waitFor("gw to close every upstream connection left mid-exchange", () =>
    [...stranded].every((side) => side.closed),
  );
  await waitFor(`upstream connections back within the pool of ${POOL}`, () => upstream.open <= POOL, 30_000);
  const res = await fetch(`${gw.proxy}/ok`);
  expect({ status: res.status, body: await res.text() }).toEqual({ status: 200, body: "ok" });
}, 120_000);

test(`a client that leaves a ${BIG_MB} MB download early: gw stops pulling it from the upstream and closes that connection`, async () => {
  const socket = connect(port, "127.0.0.1");
  socket.on("error", () => {});
  await new Promise<void>((resolve) => {
    socket.once("data", () => {
      socket.destroy();
      resolve();
    });
    socket.write("GET /big HTTP/1.1\r\nHost: gw\r\n\r\n");
  });
  // Kong (nginx) ends the upstream exchange when its client goes away; reading on would move the whole body for nobody.
  // What is in flight when the client leaves fits in kernel buffers, far less than half the body.
  const stalledAt = await settled(() => big.written);
  expect(stalledAt).toBeLessThan((BIG_MB / 2) * MB);
  await waitFor("gw to close the abandoned upstream connection", () => big.side?.closed);
});
