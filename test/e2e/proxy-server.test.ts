/** gw's own HTTP/1.1 proxy server through the compiled binary: TLS listeners, keep-alive, pipelining, 100-continue, refusals, shutdown. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { type Socket, connect as tcpConnect } from "node:net";
import { join } from "node:path";
import { type ConnectionOptions, type TLSSocket, connect as tlsConnect } from "node:tls";
import { freePort, type GwProcess, startDbless, waitFor } from "../helpers/gw";
import { createTestPki, type Issued } from "../helpers/pki";
import { type ParsedResponse, parseResponse, rawExchange } from "../helpers/raw-http";
import { startEchoUpstream, type TestUpstream } from "../helpers/upstream";
import { type RawUpstream, randomBytes, rawUpstream, seeded } from "../proxy/upstream/raw-upstream";

/** A Date no clock would produce now: seeing it downstream proves the upstream's own Date went through. */
const UPSTREAM_DATE = "Wed, 21 Oct 2015 07:28:00 GMT";
/** The length the raw upstream announces for HEAD, with no body behind it. */
const HEAD_LENGTH = 1234;
const IMF_FIXDATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/;
const CONTINUE = "HTTP/1.1 100 Continue\r\n\r\n";

/** One client connection kept open across requests, to see what arrives on it, in what order, and when it closes. */
class Conn {
  text = "";
  closed = false;

  private constructor(readonly socket: Socket | TLSSocket) {
    socket.on("data", (d: Buffer) => {
      this.text += d.toString("latin1");
    });
    socket.on("close", () => {
      this.closed = true;
    });
    socket.on("error", () => {});
  }

  /** Plain TCP, or TLS when `tls` is given. */
  static open(port: number, tls?: ConnectionOptions): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const socket = tls
        ? tlsConnect({ host: "127.0.0.1", port, ...tls }, () => resolve(new Conn(socket)))
        : tcpConnect(port, "127.0.0.1", () => resolve(new Conn(socket)));
      socket.once("error", reject);
    });
  }

  write(data: string | Uint8Array): void {
    this.socket.write(typeof data === "string" ? Buffer.from(data, "latin1") : data);
  }

  /** Takes the next whole response off what arrived; `toHead` for an answer to HEAD, which has no body after its head. */
  next(toHead = false): Promise<ParsedResponse> {
    return waitFor(
      `a complete response (received so far: ${JSON.stringify(this.text.slice(0, 300))})`,
      () => {
        const end = this.text.indexOf("\r\n\r\n");
        if (end === -1) return undefined;
        const parsed = parseResponse(toHead ? this.text.slice(0, end + 4) : this.text);
        if (parsed === null || (!toHead && !parsed.complete)) return undefined;
        const length = parsed.headers.get("content-length")?.[0];
        if (toHead) this.text = this.text.slice(end + 4);
        else if (length !== undefined) this.text = this.text.slice(end + 4 + Number(length));
        else if (parsed.headers.has("transfer-encoding")) throw new Error("unexpected chunked response");
        // No framing: the body runs to the connection's end.
        else if (!this.closed) return undefined;
        else this.text = "";
        return parsed;
      },
    );
  }

  /** Throws unless the server closes the connection within 5 s. */
  waitClosed(): Promise<true> {
    return waitFor("the server to close the connection", () => this.closed, 5_000);
  }

  end(): void {
    this.socket.destroy();
  }
}

/** Resolves true once a TCP connect to `port` is refused. */
const refused = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = tcpConnect(port, "127.0.0.1", () => {
      s.destroy();
      resolve(false);
    });
    s.on("error", () => resolve(true));
  });

/** Starts gw DB-less on `declarative(...)` with these proxy ports, and waits for them: gw's status API answers before a TLS listener is up. */
async function startNode(yaml: string, ports: number[], args: string[]): Promise<GwProcess> {
  const node = await startDbless(yaml, { args });
  await waitFor("the proxy listeners", async () => {
    for (const port of ports) if (await refused(port)) return false;
    return true;
  });
  return node;
}

const header = (res: ParsedResponse, name: string) => res.headers.get(name);
const bodyText = (res: ParsedResponse) => res.body.toString("latin1");
const sha256 = (bytes: Uint8Array) => new Bun.CryptoHasher("sha256").update(bytes).digest("hex");

/** Routes: `/echo` to the JSON echo upstream, `/raw` to the raw upstream, `/secure` and `/redirect` for https only, `/sni` by TLS server name. */
function declarative(echoPort: number, rawPort: number): string {
  return `_format_version: "3.0"
services:
  - name: echo
    url: http://127.0.0.1:${echoPort}
    routes:
      - { name: echo, paths: ["/echo"] }
      - { name: secure, paths: ["/secure"], protocols: [https] }
      - { name: redirect, paths: ["/redirect"], protocols: [https], https_redirect_status_code: 301 }
      - { name: sni-a, paths: ["/sni"], snis: [a.test], protocols: [https] }
  - name: raw
    url: http://127.0.0.1:${rawPort}
    routes:
      - { name: raw, paths: ["/raw"], strip_path: false }
      - { name: sni-b, paths: ["/sni"], snis: ["*.b.test"], protocols: [https], strip_path: false }
`;
}

/** Answers every request at once, naming it in the body; HEAD gets a Content-Length and no body. */
function startRawUpstream(): RawUpstream {
  return rawUpstream({
    respond(req, conn) {
      const head = req.method === "HEAD";
      const body = head ? "" : `${req.method} ${req.target} ${req.bodyLength}`;
      conn.write(
        `HTTP/1.1 200 OK\r\nDate: ${UPSTREAM_DATE}\r\nContent-Length: ${head ? HEAD_LENGTH : body.length}\r\n\r\n${body}`,
      );
    },
  });
}

let echo: TestUpstream;
let raw: RawUpstream;
/** Auto-generated certificate, plain port `plain`, TLS port `ssl`. */
let gw: GwProcess;
let plain: number;
let ssl: number;
const plainUrl = () => `http://127.0.0.1:${plain}`;

beforeAll(async () => {
  echo = startEchoUpstream("echo");
  raw = startRawUpstream();
  plain = freePort();
  ssl = freePort();
  // startGw passes its own --proxy_listen first; this later one wins, so gw.proxy is not used in this file.
  gw = await startNode(
    declarative(echo.port, raw.port),
    [plain, ssl],
    ["--proxy_listen", `127.0.0.1:${plain}, 127.0.0.1:${ssl} ssl`],
  );
});

afterAll(async () => {
  await gw?.kill();
  await echo?.stop();
  raw?.stop();
});

/** An HTTPS request to `/echo` over a connection that checks the certificate against `ca`; returns it and what the upstream saw. */
async function httpsEcho(port: number, ca: string, servername: string) {
  const conn = await Conn.open(port, { ca, servername });
  const socket = conn.socket as TLSSocket;
  const presented = socket.getPeerCertificate();
  conn.write(`GET /echo/tls HTTP/1.1\r\nHost: ${servername}\r\nConnection: close\r\n\r\n`);
  const res = await conn.next();
  conn.end();
  return { authorized: socket.authorized, presented, res, seen: JSON.parse(bodyText(res)) };
}

describe("TLS on proxy_listen", () => {
  test("the ssl port presents the certificate gw generated in <prefix>/ssl and proxies with https forwarding headers", async () => {
    const certPem = readFileSync(join(gw.prefix, "ssl", "kong-default-ecdsa.crt"), "utf8");
    const { authorized, presented, res, seen } = await httpsEcho(ssl, certPem, "localhost");
    expect(authorized).toBe(true);
    expect(presented.fingerprint256).toBe(new X509Certificate(certPem).fingerprint256);
    expect(res.status).toBe(200);
    expect(seen.headers["x-forwarded-proto"]).toBe("https");
    expect(seen.headers["x-forwarded-port"]).toBe(String(ssl));
  });

  test("the plain port of the same node still forwards as http", async () => {
    const res = await fetch(`${plainUrl()}/echo/plain`);
    expect(res.status).toBe(200);
    const seen = (await res.json()) as { headers: Record<string, string> };
    expect(seen.headers["x-forwarded-proto"]).toBe("http");
    expect(seen.headers["x-forwarded-port"]).toBe(String(plain));
  });

  test("an https-only route answers 426 on the plain port and 200 on the ssl port", async () => {
    const res = await fetch(`${plainUrl()}/secure`);
    expect(res.status).toBe(426);
    expect(((await res.json()) as { message: string }).message).toBe("Please use HTTPS protocol");
    const secure = await fetch(`https://127.0.0.1:${ssl}/secure`, { tls: { rejectUnauthorized: false } });
    expect(secure.status).toBe(200);
    expect(((await secure.json()) as { upstream: string }).upstream).toBe("echo");
  });

  test("routes with snis match on the TLS server name the client sent, not on Host", async () => {
    const viaSni = async (servername: string | undefined) => {
      const conn = await Conn.open(ssl, { rejectUnauthorized: false, ...(servername ? { servername } : {}) });
      // The Host header names another route's SNI: only the TLS server name may decide.
      conn.write("GET /sni/x HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n");
      const res = await conn.next();
      conn.end();
      return { status: res.status, body: bodyText(res) };
    };
    const a = await viaSni("a.test");
    expect(a.status).toBe(200);
    expect(JSON.parse(a.body).upstream).toBe("echo");
    expect(await viaSni("api.b.test")).toEqual({ status: 200, body: "GET /sni/x 0" });
    const none = await viaSni(undefined);
    expect(none.status).toBe(404);
    expect(JSON.parse(none.body).message).toBe("no Route matched with those values");
  });

  test("https_redirect_status_code 301 redirects the plain request to https", async () => {
    const res = await fetch(`${plainUrl()}/redirect/page?x=1`, { redirect: "manual" });
    expect(res.status).toBe(301);
    expect(res.headers.get("location")).toBe("https://127.0.0.1/redirect/page?x=1");
  });

  describe("with ssl_cert and ssl_cert_key", () => {
    let own: GwProcess;
    let leaf: Issued;
    let root: Issued;
    let ownSsl: number;

    beforeAll(async () => {
      const pki = await createTestPki({ intermediates: 0 });
      root = pki.root;
      leaf = await pki.leaf({ name: "proxy", cn: "gw-proxy.test", sans: ["localhost", "127.0.0.1"] });
      ownSsl = freePort();
      own = await startNode(
        declarative(echo.port, raw.port),
        [ownSsl],
        [
          "--proxy_listen",
          `127.0.0.1:${ownSsl} ssl`,
          "--ssl_cert",
          leaf.certPath,
          "--ssl_cert_key",
          leaf.keyPath,
        ],
      );
    });

    afterAll(async () => {
      await own?.kill();
    });

    test("the ssl port presents the configured certificate and proxies with https forwarding headers", async () => {
      const { authorized, presented, res, seen } = await httpsEcho(ownSsl, root.certPem, "localhost");
      expect(authorized).toBe(true);
      expect(presented.subject.CN).toBe("gw-proxy.test");
      expect(presented.fingerprint256).toBe(new X509Certificate(leaf.certPem).fingerprint256);
      expect(res.status).toBe(200);
      expect(seen.headers["x-forwarded-proto"]).toBe("https");
      expect(seen.headers["x-forwarded-port"]).toBe(String(ownSsl));
    });
  });
});

describe("keep-alive and pipelining", () => {
  for (const n of [2, 10]) {
    test(`${n} requests in one write get their answers in order on the same connection`, async () => {
      const conn = await Conn.open(plain);
      const requests = Array.from({ length: n }, (_, i) => `GET /raw/p${i} HTTP/1.1\r\nHost: x\r\n\r\n`);
      conn.write(requests.join(""));
      for (let i = 0; i < n; i++) {
        const res = await conn.next();
        expect(res.status).toBe(200);
        expect(bodyText(res)).toBe(`GET /raw/p${i} 0`);
        expect(header(res, "connection")).toBeUndefined();
      }
      expect(conn.text).toBe("");
      expect(conn.closed).toBe(false);
      conn.end();
    });
  }

  test("Connection: close from the client gets Connection: close back, then the server closes", async () => {
    const conn = await Conn.open(plain);
    conn.write("GET /raw/bye HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const res = await conn.next();
    expect(bodyText(res)).toBe("GET /raw/bye 0");
    expect(header(res, "connection")).toEqual(["close"]);
    await conn.waitClosed();
  });

  test("an HTTP/1.0 request without keep-alive is answered, then the connection closes", async () => {
    const conn = await Conn.open(plain);
    conn.write("GET /raw/old HTTP/1.0\r\n\r\n");
    const res = await conn.next();
    expect(res.status).toBe(200);
    expect(bodyText(res)).toBe("GET /raw/old 0");
    await conn.waitClosed();
  });

  test("an HTTP/1.0 request with Connection: keep-alive keeps the connection for a second request", async () => {
    const conn = await Conn.open(plain);
    conn.write("GET /raw/one HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    const first = await conn.next();
    expect(bodyText(first)).toBe("GET /raw/one 0");
    expect(header(first, "connection")).toEqual(["keep-alive"]);
    conn.write("GET /raw/two HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    expect(bodyText(await conn.next())).toBe("GET /raw/two 0");
    expect(conn.closed).toBe(false);
    conn.end();
  });

  test("an idle keep-alive connection survives two seconds and still carries a request", async () => {
    const conn = await Conn.open(plain);
    conn.write("GET /raw/before HTTP/1.1\r\nHost: x\r\n\r\n");
    expect(bodyText(await conn.next())).toBe("GET /raw/before 0");
    await Bun.sleep(2_000);
    expect(conn.closed).toBe(false);
    conn.write("GET /raw/after HTTP/1.1\r\nHost: x\r\n\r\n");
    expect(bodyText(await conn.next())).toBe("GET /raw/after 0");
    conn.end();
  });

  test("a HEAD answer carries the upstream's Content-Length and no body; the next answer parses", async () => {
    const conn = await Conn.open(plain);
    conn.write("HEAD /raw/head HTTP/1.1\r\nHost: x\r\n\r\nGET /raw/after-head HTTP/1.1\r\nHost: x\r\n\r\n");
    const head = await conn.next(true);
    expect(head.status).toBe(200);
    expect(header(head, "content-length")).toEqual([String(HEAD_LENGTH)]);
    const next = await conn.next();
    expect(next.status).toBe(200);
    expect(bodyText(next)).toBe("GET /raw/after-head 0");
    expect(conn.text).toBe("");
    conn.end();
  });
});

describe("Expect: 100-continue", () => {
  test("gw sends 100 Continue before the body is sent, and the upstream gets the whole body", async () => {
    const body = randomBytes(seeded(100), 20_000);
    const conn = await Conn.open(plain);
    conn.write(
      `PUT /raw/expect HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    await waitFor("100 Continue", () => conn.text.length >= CONTINUE.length);
    expect(conn.text).toBe(CONTINUE);
    conn.text = "";
    conn.write(body);
    const res = await conn.next();
    expect(res.status).toBe(200);
    expect(bodyText(res)).toBe(`PUT /raw/expect ${body.length}`);
    expect(raw.requests.at(-1)?.bodySha256).toBe(sha256(body));
    conn.end();
  });

  test("a request routing rejects gets its 404 without a 100 first", async () => {
    const conn = await Conn.open(plain);
    conn.write("PUT /nowhere HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n");
    const res = await conn.next();
    expect(res.status).toBe(404);
    expect(JSON.parse(bodyText(res)).message).toBe("no Route matched with those values");
    conn.end();
  });
});

describe("requests gw refuses itself", () => {
  const cases: [string, string, number, string][] = [
    [
      "an HTTP/2.0 request line",
      "GET /raw/h2 HTTP/2.0\r\nHost: x\r\n\r\n",
      505,
      "HTTP version not supported",
    ],
    [
      "Transfer-Encoding: gzip",
      "POST /raw/gzip HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc",
      501,
      "Not implemented",
    ],
    ["an HTTP/1.1 request without Host", "GET /raw/nohost HTTP/1.1\r\n\r\n", 400, "Bad request"],
    [
      "a header block over 64 KB",
      `GET /raw/big HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(70_000)}\r\n\r\n`,
      400,
      "Request header or cookie too large",
    ],
    ["a garbage request line", "\x16\x03\x01 hello there\r\n\r\n", 400, "Bad request"],
  ];
  for (const [name, payload, status, message] of cases) {
    test(`${name}: ${status}, Kong's JSON error, connection closed, nothing forwarded`, async () => {
      const before = raw.requests.length;
      const answer = await rawExchange(plainUrl(), payload, 5_000);
      expect(answer.closed).toBe(true);
      const res = parseResponse(answer.text);
      expect(res?.status).toBe(status);
      expect(res?.complete).toBe(true);
      expect(header(res!, "connection")).toEqual(["close"]);
      const json = JSON.parse(bodyText(res!));
      expect(json.message).toBe(message);
      expect(json.request_id).toMatch(/^[0-9a-f]{32}$/);
      expect(raw.requests.length).toBe(before);
    });
  }
});

describe("request bodies from raw clients", () => {
  test("a chunked body with chunk extensions and a trailer arrives upstream intact", async () => {
    const body = randomBytes(seeded(7), 50_000);
    const sizes = [1, 100, 4096, 0x3000];
    let at = 0;
    let wire = "";
    for (const [i, size] of sizes.entries()) {
      wire += `${size.toString(16)};ext${i}=v;quoted="a b"\r\n${Buffer.from(body.subarray(at, at + size)).toString("latin1")}\r\n`;
      at += size;
    }
    wire += `${(body.length - at).toString(16)}\r\n${Buffer.from(body.subarray(at)).toString("latin1")}\r\n`;
    wire += "0;last=yes\r\nX-Trailer: done\r\n\r\n";
    const conn = await Conn.open(plain);
    conn.write(`POST /raw/chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${wire}`);
    const res = await conn.next();
    expect(res.status).toBe(200);
    expect(bodyText(res)).toBe(`POST /raw/chunked ${body.length}`);
    expect(raw.requests.at(-1)?.bodySha256).toBe(sha256(body));
    // The trailer ended the body exactly: the connection carries the next request.
    conn.write("GET /raw/after-chunked HTTP/1.1\r\nHost: x\r\n\r\n");
    expect(bodyText(await conn.next())).toBe("GET /raw/after-chunked 0");
    conn.end();
  });

  test("a request written in many tiny TCP writes arrives upstream intact", async () => {
    const body = randomBytes(seeded(11), 1_500);
    const request = Buffer.concat([
      Buffer.from(`POST /raw/tiny HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`),
      body,
    ]);
    const conn = await Conn.open(plain);
    (conn.socket as Socket).setNoDelay(true);
    for (let i = 0; i < request.length; i += 7) {
      conn.write(request.subarray(i, i + 7));
      await Bun.sleep(1);
    }
    const res = await conn.next();
    expect(res.status).toBe(200);
    expect(bodyText(res)).toBe(`POST /raw/tiny ${body.length}`);
    expect(raw.requests.at(-1)?.bodySha256).toBe(sha256(body));
    conn.end();
  });
});

describe("Date", () => {
  test("an answer gw makes itself (404) carries one Date", async () => {
    const res = await fetch(`${plainUrl()}/nowhere`);
    expect(res.status).toBe(404);
    expect(res.headers.get("date")).toMatch(IMF_FIXDATE);
  });

  test("a proxied answer carries the upstream's own Date, unchanged and alone", async () => {
    const conn = await Conn.open(plain);
    conn.write("GET /raw/date HTTP/1.1\r\nHost: x\r\n\r\n");
    expect(header(await conn.next(), "date")).toEqual([UPSTREAM_DATE]);
    conn.end();
  });
});

describe("graceful stop", () => {
  test("SIGTERM refuses new connections, lets the request in flight get its 200, closes, and exits 0", async () => {
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const slow = rawUpstream({
      async respond(_req, conn) {
        await gate;
        await conn.write("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlate");
      },
    });
    const port = freePort();
    const node = await startNode(
      declarative(echo.port, slow.port),
      [port],
      ["--proxy_listen", `127.0.0.1:${port}`],
    );
    try {
      const conn = await Conn.open(port);
      conn.write("GET /raw/slow HTTP/1.1\r\nHost: x\r\n\r\n");
      await waitFor("the upstream to get the request", () => slow.requests.length === 1);
      node.proc.kill("SIGTERM");
      await waitFor("gw to refuse new connections", () => refused(port), 5_000);
      release();
      const res = await conn.next();
      expect(res.status).toBe(200);
      expect(bodyText(res)).toBe("late");
      await conn.waitClosed();
      expect(await node.proc.exited).toBe(0);
    } finally {
      release();
      await node.kill();
      slow.stop();
    }
  });
});
