/** Which `certificates` entity the TLS proxy listener presents for a client's server name, by Kong's SNI lookup order. */
import { beforeAll, describe, expect, test } from "bun:test";
import {
  type CertificateRow,
  type CertificateTable,
  SniCertificates,
  sniCandidates,
} from "../../src/proxy/tls-certificates";
import { createTestPki, type Issued } from "../helpers/pki";

describe("sniCandidates", () => {
  test("the name, its first label as `*`, its last label as `*`, then the catch-all `*`", () => {
    expect(sniCandidates("www.example.com")).toEqual([
      "www.example.com",
      "*.example.com",
      "www.example.*",
      "*",
    ]);
    expect(sniCandidates("a.b.c.d")).toEqual(["a.b.c.d", "*.b.c.d", "a.b.c.*", "*"]);
  });

  test("a two-label name has no `*.` form (Kong's `*.test` never serves `a.test`)", () => {
    expect(sniCandidates("example.com")).toEqual(["example.com", "example.*", "*"]);
  });

  test("a single label, empty labels and names with a wildcard of their own", () => {
    expect(sniCandidates("localhost")).toEqual(["localhost", "*"]);
    expect(sniCandidates("a..b")).toEqual(["a..b", "*"]);
    expect(sniCandidates(".example.com")).toEqual([".example.com", ".example.*", "*"]);
    expect(sniCandidates("*.example.com")).toEqual(["*.example.com", "*"]);
  });
});

const row = (id: string): CertificateRow => ({ id, cert: `cert ${id}`, key: `key ${id}` });
const table = (certs: CertificateRow[], snis: Record<string, string>): CertificateTable => ({
  certificates: certs,
  snis: Object.entries(snis).map(([name, id]) => ({ name, certificate: { id } })),
});

describe("SniCertificates.find", () => {
  const exact = row("exact");
  const prefix = row("prefix");
  const suffix = row("suffix");
  const any = row("any");
  const all = table([exact, prefix, suffix, any], {
    "api.b.test": "exact",
    "*.b.test": "prefix",
    "api.b.*": "suffix",
    "*": "any",
  });
  const certs = new SniCertificates(() => all);

  test("an exact SNI beats the wildcards, `*.` beats `.*`, and `*` takes the rest", () => {
    expect(certs.find("api.b.test")?.id).toBe("exact");
    expect(certs.find("x.b.test")?.id).toBe("prefix");
    expect(certs.find("api.b.example")?.id).toBe("suffix");
    expect(certs.find("unknown.test")?.id).toBe("any");
  });

  test("a leading wildcard stands for exactly one label", () => {
    expect(certs.find("x.y.b.test")?.id).toBe("any");
  });

  test("names are compared as the client sent them, as Kong does", () => {
    expect(certs.find("API.B.TEST")?.id).toBe("any");
  });

  test("without a `*` SNI an unmatched name gets the default certificate (null)", () => {
    const some = new SniCertificates(() => table([exact], { "api.b.test": "exact" }));
    expect(some.find("other.b.test")).toBeNull();
    expect(new SniCertificates(() => null).find("api.b.test")).toBeNull();
  });

  test("each lookup reads the config running at that moment", () => {
    let current = table([exact], { "a.test": "exact" });
    const live = new SniCertificates(() => current);
    expect(live.find("a.test")?.id).toBe("exact");
    current = table([prefix], { "*.b.test": "prefix" });
    expect(live.find("a.test")).toBeNull();
    expect(live.find("x.b.test")?.id).toBe("prefix");
  });
});

describe("SniCertificates.contextFor", () => {
  let a: Issued;
  let b: Issued;
  beforeAll(async () => {
    const pki = await createTestPki({ intermediates: 0 });
    a = await pki.selfSigned("a", "a.test");
    b = await pki.selfSigned("b", "b.test");
  });

  test("a TLS context for a matched name, none for an unmatched one", () => {
    const certs = new SniCertificates(() =>
      table([{ id: "a", cert: a.certPem, key: a.keyPem }], { "a.test": "a" }),
    );
    expect(certs.contextFor("a.test")).toBeObject();
    expect(certs.contextFor("b.test")).toBeUndefined();
  });

  test("a certificate whose PEM does not load leaves the default certificate in place instead of throwing", () => {
    const certs = new SniCertificates(() =>
      table([{ id: "bad", cert: "not a pem", key: a.keyPem }], { "a.test": "bad" }),
    );
    expect(certs.contextFor("a.test")).toBeUndefined();
  });

  test("a certificate changed under the same id gets a new context; an unchanged one keeps its own", () => {
    let current = table([{ id: "c", cert: a.certPem, key: a.keyPem }], { "a.test": "c" });
    const certs = new SniCertificates(() => current);
    const first = certs.contextFor("a.test");
    current = table([{ id: "c", cert: a.certPem, key: a.keyPem }], { "a.test": "c", "x.test": "c" });
    expect(certs.contextFor("x.test")).toBe(first as object);
    current = table([{ id: "c", cert: b.certPem, key: b.keyPem }], { "a.test": "c" });
    const second = certs.contextFor("a.test");
    expect(second).toBeObject();
    expect(second).not.toBe(first as object);
  });
});
