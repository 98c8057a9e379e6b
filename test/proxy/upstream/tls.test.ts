import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { UpstreamClient } from "../../../src/proxy/upstream/client";
import type { UpstreamTls } from "../../../src/proxy/upstream/types";
import { makePki, type TestPki } from "./pki";
import { type RawUpstream, rawUpstream, readAll } from "./raw-upstream";

let pki: TestPki;
let upstream: RawUpstream;
const client = new UpstreamClient({ poolSize: 8, maxRequests: 100, idleTimeoutMs: 60_000 });
const timeouts = { connect: 2000, write: 2000, read: 2000 };

beforeAll(async () => {
  pki = await makePki();
  upstream = rawUpstream({
    tls: pki.server,
    respond(req, conn) {
      conn.write(`HTTP/1.1 200 OK\r\nContent-Length: ${req.target.length}\r\n\r\n${req.target}`);
    },
  });
});
afterAll(() => {
  client.close();
  upstream.stop();
});

const fetchVia = async (tls: UpstreamTls, host = "127.0.0.1", target = "/secure") => {
  const res = await client.request(
    { host, port: upstream.port, tls },
    { method: "GET", target, headers: ["Host", "upstream.test"], body: null },
    timeouts,
  );
  return Buffer.from(await readAll(res.body)).toString();
};

describe("TLS upstreams", () => {
  test("verified against a CA made in the test, and the socket is pooled", async () => {
    const tls = { verify: true, ca: [pki.ca] };
    const before = upstream.accepted;
    expect(await fetchVia(tls)).toBe("/secure");
    expect(await fetchVia(tls, "127.0.0.1", "/again")).toBe("/again");
    expect(upstream.accepted).toBe(before + 1);
  });

  test("verification on, without the CA: a tls error, nothing sent", async () => {
    const err = await fetchVia({ verify: true }).catch((e) => e);
    expect(err.kind).toBe("tls");
    expect(err.requestSent).toBe(false);
  });

  test("verification off (Kong's default tls_verify): the private CA is accepted", async () => {
    expect(await fetchVia({ verify: false })).toBe("/secure");
  });

  test("SNI names the host to verify: a name the certificate lacks fails, one it has passes", async () => {
    const wrong = await fetchVia({ verify: true, ca: [pki.ca], servername: "other.test" }).catch((e) => e);
    expect(wrong.kind).toBe("tls");
    expect(await fetchVia({ verify: true, ca: [pki.ca], servername: "upstream.test" })).toBe("/secure");
  });

  test("a client certificate is presented to an upstream that requires one", async () => {
    const mtls = rawUpstream({
      tls: { ...pki.server, ca: pki.ca, requestCert: true, rejectUnauthorized: true },
      respond(_req, conn) {
        conn.write("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nmtls");
      },
    });
    try {
      const endpoint = (tls: UpstreamTls) => ({ host: "127.0.0.1", port: mtls.port, tls });
      const req = { method: "GET", target: "/", headers: [], body: null };
      const ok = await client.request(endpoint({ verify: true, ca: [pki.ca], ...pki.client }), req, timeouts);
      expect(Buffer.from(await readAll(ok.body)).toString()).toBe("mtls");
      const refused = await client
        .request(endpoint({ verify: true, ca: [pki.ca] }), req, timeouts)
        .then((r) => readAll(r.body))
        .catch((e) => e);
      expect(refused.kind === "tls" || refused.kind === "reset").toBe(true);
    } finally {
      mtls.stop();
    }
  });

  test("unusable TLS material is reported, not thrown", async () => {
    const err = await fetchVia({ verify: true, cert: "not a pem", key: "nor this" }).catch((e) => e);
    expect(err.kind).toBe("tls");
  });
});
