/** Mutated and garbage requests against the compiled binary: gw answers each with well-formed HTTP or closes, and keeps serving. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { type GwProcess, openFds, startDbless, waitFor } from "../helpers/gw";
import { rawExchange } from "../helpers/raw-http";
import { startEchoUpstream, type TestUpstream } from "../helpers/upstream";
import { seeded } from "../proxy/upstream/raw-upstream";

const SEED = Number(process.env.FUZZ_SEED ?? 20261129);
const CASES = Number(process.env.FUZZ_CASES ?? 2000);
const WORKERS = 32;

/** Well-formed requests the mutations start from: plain, with bodies, chunked, pipelined, an upgrade. */
const SEEDS = [
  "GET /api/a?x=1 HTTP/1.1\r\nHost: gw.test\r\nUser-Agent: fuzz\r\nAccept: */*\r\n\r\n",
  "POST /api/b HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello",
  "PUT /api/c HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\n3;e=1\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n",
  "GET /api/d HTTP/1.1\r\nHost: gw.test\r\n\r\nGET /api/e HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n",
  "GET /api/ws HTTP/1.1\r\nHost: gw.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
  "HEAD /api/f HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
  "OPTIONS * HTTP/1.1\r\nHost: gw.test\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
];
/** Bytes that matter to an HTTP/1.1 parser, inserted at random places. */
const SPECIAL = [
  "\r",
  "\n",
  "\r\n",
  "\0",
  " ",
  "\t",
  ":",
  ";",
  ",",
  "0",
  "ffffffffffffffff",
  "\x7f",
  "\xff",
  "Content-Length: 3\r\n",
  "Transfer-Encoding: chunked\r\n",
];

function mutate(rand: () => number, input: string): string {
  let s = input;
  const edits = 1 + Math.floor(rand() * 4);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(rand() * (s.length + 1));
    const kind = Math.floor(rand() * 6);
    if (kind === 0) s = s.slice(0, at) + String.fromCharCode(Math.floor(rand() * 256)) + s.slice(at + 1);
    else if (kind === 1) s = s.slice(0, at) + SPECIAL[Math.floor(rand() * SPECIAL.length)] + s.slice(at);
    else if (kind === 2) s = s.slice(0, at);
    else if (kind === 3) s = s.slice(0, at) + s.slice(at + 1 + Math.floor(rand() * 8));
    else if (kind === 4)
      s = s.slice(0, at) + s.slice(at, at + 1 + Math.floor(rand() * 40)).repeat(2) + s.slice(at);
    else
      s = Array.from({ length: 1 + Math.floor(rand() * 200) }, () =>
        String.fromCharCode(Math.floor(rand() * 256)),
      ).join("");
  }
  return s;
}

/** Every response in what came back: a status line of the right shape, a blank line ending its head. */
function malformedAnswers(text: string): string | null {
  let at = 0;
  while (at < text.length) {
    if (!/^HTTP\/1\.1 [1-5]\d\d /.test(text.slice(at, at + 13))) return text.slice(at, at + 80);
    const headEnd = text.indexOf("\r\n\r\n", at);
    if (headEnd === -1) return text.slice(at, at + 80);
    const head = text.slice(at, headEnd);
    const length = /\r\ncontent-length: (\d+)/i.exec(head);
    // A chunked, close-delimited or 101-tunnelled answer runs to the end of what was read.
    if (!length) return null;
    at = headEnd + 4 + Number(length[1]);
  }
  return null;
}

let gw: GwProcess;
let upstream: TestUpstream;

beforeAll(async () => {
  upstream = startEchoUpstream();
  gw = await startDbless(
    `_format_version: "3.0"\nservices:\n  - name: echo\n    url: ${upstream.url}\n    routes: [{ paths: ["/api"] }]\n`,
  );
});

afterAll(async () => {
  await gw?.kill();
  upstream?.stop();
});

test(`${CASES} mutated requests: each answered with well-formed HTTP or closed, and gw keeps serving`, async () => {
  const baseline = openFds(gw.proc.pid);
  const bad: string[] = [];
  let answered = 0;
  let next = 0;
  const worker = async () => {
    while (next < CASES) {
      const caseNo = next++;
      const rand = seeded(SEED * 7919 + caseNo);
      const payload = Buffer.from(mutate(rand, SEEDS[Math.floor(rand() * SEEDS.length)] as string), "latin1");
      const answer = await rawExchange(gw.proxy, payload, 300);
      if (answer.text.length > 0) answered++;
      const problem = malformedAnswers(answer.text);
      if (problem !== null && bad.length < 5) bad.push(`case ${caseNo}: ${JSON.stringify(problem)}`);
    }
  };
  await Promise.all(Array.from({ length: WORKERS }, worker));
  expect(bad).toEqual([]);
  // Most mutations leave something gw can answer (400, 404, 200 …); the rest wait for bytes that never come.
  expect(answered).toBeGreaterThan(CASES / 3);
  expect(gw.proc.exitCode).toBeNull();
  const res = await fetch(`${gw.proxy}/api/after`);
  expect(res.status).toBe(200);
  await res.arrayBuffer();
  await waitFor(`gw's descriptors back near ${baseline}`, () => openFds(gw.proc.pid) <= baseline + 8, 20_000);
}, 120_000);
