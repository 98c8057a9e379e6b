import { afterAll, expect, test } from "bun:test";
import { UpstreamClient } from "../../../src/proxy/upstream/client";
import type { UpstreamRequest } from "../../../src/proxy/upstream/types";
import {
  bodyLength,
  chunkedWire,
  randomBytes,
  rawUpstream,
  readAll,
  type SeenRequest,
  seeded,
  streamOf,
  type UpstreamSide,
} from "./raw-upstream";

const SEED = Number(process.env.FUZZ_SEED ?? 20261129);
const CASES = Number(process.env.FUZZ_CASES ?? 10_000);
const WORKERS = 16;
const enc = new TextEncoder();
const sha256 = (b: Uint8Array) => new Bun.CryptoHasher("sha256").update(b).digest("hex");

type Framing = "length" | "chunked" | "close" | "none";

interface Plan {
  request: UpstreamRequest;
  sentBody: Uint8Array;
  status: number;
  framing: Framing;
  headers: string[];
  body: Uint8Array;
  /** Builds the wire bytes; the upstream inserts the hash of what it received, proving the request body arrived intact. */
  wire(receivedSha: string): Uint8Array;
  closeAfter: boolean;
  split: () => number;
}

const pick = <T>(rand: () => number, items: readonly T[]): T => items[Math.floor(rand() * items.length)] as T;

function plan(caseNo: number, port: number): Plan {
  const rand = seeded(SEED * 31 + caseNo);
  const method = pick(rand, ["GET", "GET", "POST", "PUT", "HEAD", "DELETE"] as const);
  const sentBody =
    method === "POST" || method === "PUT" ? randomBytes(rand, bodyLength(rand)) : new Uint8Array(0);
  const bodyKind = sentBody.length === 0 ? "none" : pick(rand, ["bytes", "stream", "stream-length"] as const);
  const request: UpstreamRequest = {
    method,
    target: `/case/${caseNo}?q=${Math.floor(rand() * 1000)}`,
    headers: ["Host", `127.0.0.1:${port}`, "X-Case", String(caseNo)],
    body: bodyKind === "none" ? null : bodyKind === "bytes" ? sentBody : streamOf(sentBody, rand),
    ...(bodyKind === "stream-length" ? { bodyLength: sentBody.length } : {}),
  };

  const noBodyStatus = rand() < 0.1 ? pick(rand, [204, 304] as const) : 0;
  const status = noBodyStatus || pick(rand, [200, 200, 201, 302, 404, 500] as const);
  const framing: Framing =
    noBodyStatus || method === "HEAD"
      ? "none"
      : pick(rand, ["length", "length", "chunked", "chunked", "close"] as const);
  const body = framing === "none" ? new Uint8Array(0) : randomBytes(rand, bodyLength(rand));
  const headers: string[] = [];
  const headerCount = Math.floor(rand() * 6);
  for (let i = 0; i < headerCount; i++) headers.push(`X-F${i}`, `v${Math.floor(rand() * 1e6)} ${i}`);
  const interim = rand() < 0.1 ? "HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n" : "";
  const ows = rand() < 0.3 ? "  " : " ";
  const closeAfter = framing === "close" || rand() < 0.05;
  const framingHeader =
    framing === "length" || (framing === "none" && method === "HEAD")
      ? `Content-Length: ${method === "HEAD" ? 1234 : body.length}\r\n`
      : framing === "chunked"
        ? "Transfer-Encoding: chunked\r\n"
        : "";
  const payload = framing === "chunked" ? chunkedWire(body, rand) : body;
  const wire = (receivedSha: string) => {
    let head = `${interim}HTTP/1.1 ${status} Fuzz\r\n`;
    for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}:${ows}${headers[i + 1]}${ows}\r\n`;
    head += `X-Received-Sha:${ows}${receivedSha}\r\n${framingHeader}`;
    if (closeAfter && framing !== "close") head += "Connection: close\r\n";
    return Buffer.concat([enc.encode(`${head}\r\n`), payload]);
  };
  return { request, sentBody, status, framing, headers, body, wire, closeAfter, split: rand };
}

const plans = new Map<number, Plan>();
const upstream = rawUpstream({
  async respond(req: SeenRequest, conn: UpstreamSide) {
    const p = plans.get(Number(req.headers.get("x-case")?.[0])) as Plan;
    await conn.writeSplit(p.wire(req.bodySha256), p.split, 4);
    if (p.closeAfter) conn.end();
  },
});
const client = new UpstreamClient({ poolSize: WORKERS, maxRequests: 100, idleTimeoutMs: 60_000 });
afterAll(() => {
  client.close();
  upstream.stop();
});

test(`seeded fuzz: ${CASES} exchanges with every framing, split at random byte boundaries, compare byte-exact`, async () => {
  const endpoint = { host: "127.0.0.1", port: upstream.port, tls: null };
  const timeouts = { connect: 5000, write: 5000, read: 5000 };
  const failures: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < CASES) {
      const caseNo = next++;
      const p = plan(caseNo, upstream.port);
      plans.set(caseNo, p);
      try {
        const res = await client.request(endpoint, p.request, timeouts);
        const body = await readAll(res.body);
        const expectedHeaders = [...p.headers, "X-Received-Sha", sha256(p.sentBody)];
        const problems = [
          res.status !== p.status && `status ${res.status}`,
          JSON.stringify(res.headers) !== JSON.stringify(expectedHeaders) &&
            `headers ${JSON.stringify(res.headers)}`,
          !Buffer.from(body).equals(Buffer.from(p.body)) &&
            `body of ${body.length} bytes, wanted ${p.body.length}`,
          p.framing === "length" &&
            res.contentLength !== p.body.length &&
            `contentLength ${res.contentLength}`,
        ].filter(Boolean);
        if (problems.length > 0)
          failures.push(`case ${caseNo} (${p.request.method} ${p.framing}): ${problems.join("; ")}`);
      } catch (e) {
        failures.push(`case ${caseNo} (${p.request.method} ${p.framing}): ${(e as Error).message}`);
      }
      plans.delete(caseNo);
    }
  };
  await Promise.all(Array.from({ length: WORKERS }, worker));
  expect(failures.slice(0, 10)).toEqual([]);
  expect(upstream.requests.length).toBe(CASES);
  // Keep-alive did its job: far fewer connections than exchanges, though until-close and Connection: close cost one each.
  expect(upstream.accepted).toBeLessThan(CASES / 2);
}, 300_000);
