import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { setLogSink } from "../../src/log/logger";
import { normalizePath } from "../../src/proxy/paths";
import { compileRouter, type RouterRequest, type RouterRoute } from "../../src/proxy/router";

const id = (n: number) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;

function req(over: Partial<RouterRequest> = {}): RouterRequest {
  return {
    method: "GET",
    host: "example.com",
    port: 8000,
    path: "/",
    headers: new Headers(),
    protocol: "http",
    ...over,
  };
}

function routerOf(routes: RouterRoute[], servicePath: string | null = null) {
  return compileRouter(routes, () => servicePath);
}

/** The id of the route a request matches, or null. */
const winner = (routes: RouterRoute[], r: Partial<RouterRequest>) =>
  routerOf(routes).match(req(r))?.route.id ?? null;

describe("Kong's documented matching examples", () => {
  const routes = [
    { id: id(1), hosts: ["example.com", "foo-service.com"], paths: ["/foo", "/bar"], methods: ["GET"] },
  ];

  test.each([
    ["GET", "/foo", "example.com"],
    ["GET", "/bar", "foo-service.com"],
    ["GET", "/foo/hello/world", "example.com"],
  ])("%s %s with Host %s matches: all fields satisfied", (method, path, host) => {
    expect(winner(routes, { method, path, host })).toBe(id(1));
  });

  test.each([
    ["GET", "/", "example.com"],
    ["POST", "/foo", "example.com"],
    ["GET", "/foo", "foo.com"],
  ])("%s %s with Host %s does not match: one field fails", (method, path, host) => {
    expect(winner(routes, { method, path, host })).toBeNull();
  });

  test("plain paths are string prefixes, not segments", () => {
    expect(winner([{ id: id(1), paths: ["/foo"] }], { path: "/foobar" })).toBe(id(1));
  });

  test("the request path is normalized and its query ignored before matching", () => {
    const routes = [{ id: id(1), paths: ["/foo/bar"] }];
    expect(winner(routes, { path: "/x/../fo%6F//bar?y=1" })).toBe(id(1));
    expect(winner(routes, { path: "/foo/./bar" })).toBe(id(1));
    expect(winner(routes, { path: "/foo%2Fbar" })).toBeNull();
  });

  test("the longest prefix wins, whatever the order of the routes", () => {
    const routes = [
      { id: id(2), paths: ["/service"] },
      { id: id(1), paths: ["/service/resource"] },
    ];
    expect(winner(routes, { path: "/service/resource/1" })).toBe(id(1));
    expect(winner(routes, { path: "/service/other" })).toBe(id(2));
  });
});

describe("hosts", () => {
  test("*.example.com matches any depth of subdomain, not the bare domain", () => {
    const routes = [{ id: id(1), hosts: ["*.example.com", "service.com"] }];
    expect(winner(routes, { host: "an.example.com" })).toBe(id(1));
    expect(winner(routes, { host: "x.y.example.com" })).toBe(id(1));
    expect(winner(routes, { host: "service.com" })).toBe(id(1));
    expect(winner(routes, { host: "example.com" })).toBeNull();
    expect(winner(routes, { host: "badexample.com" })).toBeNull();
  });

  test("example.* matches any ending", () => {
    const routes = [{ id: id(1), hosts: ["example.*"] }];
    expect(winner(routes, { host: "example.com" })).toBe(id(1));
    expect(winner(routes, { host: "example.org" })).toBe(id(1));
    expect(winner(routes, { host: "myexample.com" })).toBeNull();
  });

  test("a route host's port compares with the Host header's port, or the listener's when Host has none", () => {
    const routes = [
      { id: id(2), hosts: ["example.com:8443"] },
      { id: id(1), hosts: ["example.com"] },
    ];
    expect(winner(routes, { host: "example.com:8443", port: 8000 })).toBe(id(2));
    expect(winner(routes, { host: "example.com", port: 8443 })).toBe(id(2));
    expect(winner(routes, { host: "example.com:9999", port: 8443 })).toBe(id(1));
    expect(winner(routes, { host: "example.com", port: 8000 })).toBe(id(1));
  });

  test("hosts compare case-insensitively", () => {
    expect(winner([{ id: id(1), hosts: ["Example.COM"] }], { host: "EXAMPLE.com" })).toBe(id(1));
    expect(winner([{ id: id(1), hosts: ["*.Example.com"] }], { host: "a.EXAMPLE.com" })).toBe(id(1));
  });

  test("a request without Host matches only routes without hosts", () => {
    const routes = [
      { id: id(1), hosts: ["example.*"] },
      { id: id(2), paths: ["/"] },
    ];
    expect(winner(routes, { host: "" })).toBe(id(2));
  });
});

describe("methods, headers, snis", () => {
  test("methods are exact, including ones outside the usual set", () => {
    const routes = [
      { id: id(1), methods: ["GET", "HEAD"] },
      { id: id(2), methods: ["PURGE"] },
    ];
    expect(winner(routes, { method: "HEAD" })).toBe(id(1));
    expect(winner(routes, { method: "PURGE" })).toBe(id(2));
    expect(winner(routes, { method: "get" })).toBeNull();
    expect(winner(routes, { method: "POST" })).toBeNull();
  });

  test("header names and values compare case-insensitively; values OR, names AND", () => {
    const routes = [{ id: id(1), headers: { Version: ["v1", "V2"], region: ["north"] } }];
    const h = (init: Record<string, string>) => ({ headers: new Headers(init) });
    expect(winner(routes, h({ version: "V1", Region: "North" }))).toBe(id(1));
    expect(winner(routes, h({ version: "v2", region: "north" }))).toBe(id(1));
    expect(winner(routes, h({ version: "v3", region: "north" }))).toBeNull();
    expect(winner(routes, h({ version: "v1" }))).toBeNull();
  });

  test("~* values are regexes, unanchored, against the lowercased header", () => {
    const routes = [
      { id: id(1), headers: { "x-version": ["~*^V\\d+$"] } },
      { id: id(2), paths: ["/"] },
    ];
    expect(winner(routes, { headers: new Headers({ "x-version": "V12" }) })).toBe(id(1));
    expect(winner(routes, { headers: new Headers({ "x-version": "v1x" }) })).toBe(id(2));
    const contains = [{ id: id(1), headers: { agent: ["~*bot"] } }];
    expect(winner(contains, { headers: new Headers({ agent: "GoogleBot/2.1" }) })).toBe(id(1));
  });

  test("a repeated header matches when any of its values does", () => {
    const routes = [{ id: id(1), headers: { tenant: ["b"] } }];
    const headers = new Headers();
    headers.append("tenant", "a");
    headers.append("tenant", "B");
    expect(winner(routes, { headers })).toBe(id(1));
  });

  test("many routes on one path told apart by a header value (tenant routing)", () => {
    const routes: RouterRoute[] = Array.from({ length: 50 }, (_, i) => ({
      id: id(100 + i),
      paths: ["/api"],
      headers: { "x-tenant": [`t${i}`, `alias${i}`] },
    }));
    routes.push(
      { id: id(1), paths: ["/api"] },
      { id: id(2), paths: ["/api"], headers: { "x-tenant": ["~*^vip"] } },
    );
    const tenant = (...values: string[]) => {
      const headers = new Headers();
      for (const v of values) headers.append("x-tenant", v);
      return { path: "/api/x", headers };
    };
    expect(winner(routes, tenant("T37"))).toBe(id(137));
    expect(winner(routes, tenant("alias5"))).toBe(id(105));
    expect(winner(routes, tenant("nobody", "t12"))).toBe(id(112));
    expect(winner(routes, tenant("vip-1"))).toBe(id(2));
    expect(winner(routes, tenant("nobody"))).toBe(id(1));
    expect(winner(routes, { path: "/api" })).toBe(id(1));
  });

  test("snis only apply to https requests; wildcards and a trailing dot work as for hosts", () => {
    const routes = [{ id: id(1), snis: ["*.example.com", "api.test."] }];
    expect(winner(routes, { protocol: "https", sni: "a.example.com" })).toBe(id(1));
    expect(winner(routes, { protocol: "https", sni: "api.test" })).toBe(id(1));
    expect(winner(routes, { protocol: "https", sni: "other.test" })).toBeNull();
    expect(winner(routes, { protocol: "https", sni: null })).toBeNull();
    expect(winner(routes, { protocol: "http" })).toBe(id(1));
  });

  test("when the server cannot tell the SNI, the Host name stands in for it", () => {
    const routes = [{ id: id(1), snis: ["*.example.com"] }];
    expect(winner(routes, { protocol: "https", host: "a.example.com:8443" })).toBe(id(1));
    expect(winner(routes, { protocol: "https", host: "other.test" })).toBeNull();
  });
});

describe("regex paths", () => {
  test("named and unnamed captures (Kong's docs example)", () => {
    const router = routerOf([{ id: id(1), paths: ["~/version/(?<version>\\d+)/users/(?<user>\\S+)"] }]);
    const m = router.match(req({ path: "/version/1/users/john" }));
    expect(m?.captures).toEqual({ unnamed: ["1", "john"], named: { version: "1", user: "john" } });
    expect(m?.matchedPrefix).toBe("/version/1/users/john");
  });

  test("Rust's (?P<name>) spelling works; a group that did not take part is empty and unnamed-only", () => {
    const router = routerOf([{ id: id(1), paths: ["~/(users/)?1984/(?P<subpath>profile)$"] }]);
    const m = router.match(req({ path: "/1984/profile" }));
    expect(m?.captures).toEqual({ unnamed: ["", "profile"], named: { subpath: "profile" } });
  });

  test("regexes are anchored at the start only", () => {
    const routes = [{ id: id(1), paths: ["~/api/v\\d+"] }];
    expect(winner(routes, { path: "/api/v2/users" })).toBe(id(1));
    expect(winner(routes, { path: "/x/api/v2" })).toBeNull();
  });

  test("a top-level alternation is only anchored on its first branch, as Kong's `^` + regex is", () => {
    const routes = [{ id: id(1), paths: ["~/a|/b"] }];
    expect(winner(routes, { path: "/x/b" })).toBe(id(1));
    expect(winner(routes, { path: "/x/a" })).toBeNull();
  });

  test("regexes whose first characters are optional still match without them", () => {
    expect(winner([{ id: id(1), paths: ["~/ab?c"] }], { path: "/ac" })).toBe(id(1));
    expect(winner([{ id: id(1), paths: ["~/xa*b"] }], { path: "/xb" })).toBe(id(1));
    expect(winner([{ id: id(1), paths: ["~/x{0,2}y"] }], { path: "/y" })).toBe(id(1));
    expect(winner([{ id: id(1), paths: ["~/\\.?z"] }], { path: "/z" })).toBe(id(1));
  });

  test("a leading (?i) makes the match case-insensitive", () => {
    expect(winner([{ id: id(1), paths: ["~(?i)/admin"] }], { path: "/ADMIN/x" })).toBe(id(1));
  });

  test("a regex JS cannot compile never matches and never throws; other routes still do", () => {
    const lines: string[] = [];
    setLogSink((l) => lines.push(l));
    try {
      const routes = [
        { id: id(2), paths: ["~/(unclosed"] },
        { id: id(1), paths: ["/"] },
      ];
      expect(winner(routes, { path: "/(unclosed" })).toBe(id(1));
      expect(lines.join("")).toContain(`route ${id(2)} path: '/(unclosed' is not a regex`);
    } finally {
      setLogSink((l) => process.stderr.write(l));
    }
  });

  test("strip_path removes the whole regex match", () => {
    const router = routerOf([{ id: id(1), paths: ["~/v\\d+/"], strip_path: true }], "/svc");
    const m = router.match(req({ path: "/v12/items" }));
    expect(m?.strippedPrefix).toBe("/v12/");
    expect(m?.upstreamPath).toBe("/svc/items");
  });
});

describe("priority (traditional_compatible)", () => {
  test("Kong's regex evaluation order example: regex_priority, then regexes before prefixes", () => {
    const routes = [
      { id: id(1), paths: ["~/status/\\d+"], regex_priority: 0 },
      { id: id(2), paths: ["~/version/\\d+/status/\\d+"], regex_priority: 6 },
      { id: id(3), paths: ["/version"] },
      { id: id(4), paths: ["~/version/any/"] },
    ];
    expect(winner(routes, { path: "/version/1/status/2" })).toBe(id(2));
    expect(winner(routes, { path: "/status/5" })).toBe(id(1));
    expect(winner(routes, { path: "/version/any/x" })).toBe(id(4));
    expect(winner(routes, { path: "/version/x" })).toBe(id(3));
  });

  test("more fields win: hosts + methods is tried before hosts alone (Kong's docs example)", () => {
    const routes = [
      { id: id(2), hosts: ["example.com"] },
      { id: id(1), hosts: ["example.com"], methods: ["POST"] },
    ];
    expect(winner(routes, { method: "GET" })).toBe(id(2));
    expect(winner(routes, { method: "POST" })).toBe(id(1));
  });

  test("[host] and [uri] are preferred over [method] only by field count (Kong's edge case)", () => {
    const routes = [
      { id: id(1), hosts: ["domain-1.org", "domain-2.org"] },
      { id: id(2), methods: ["TRACE"] },
      { id: id(3), paths: ["/my-route"] },
      { id: id(4), paths: ["/route-4"], hosts: ["domain-1.org", "domain-2.org"] },
      { id: id(5), hosts: ["domain-1.org", "domain-2.org"], methods: ["POST", "PUT", "PATCH"] },
      { id: id(6), methods: ["POST", "PUT", "PATCH"], paths: ["/route-6"] },
    ];
    expect(winner(routes, { method: "TRACE", host: "domain-2.org" })).toBe(id(1));
    expect(winner(routes, { method: "TRACE", path: "/my-route", host: "domain.org" })).toBe(id(3));
  });

  test("a plain host beats a wildcard host at equal weight, either way round", () => {
    const routes = [
      { id: id(2), hosts: ["*.example.com"], paths: ["/a"] },
      { id: id(1), hosts: ["api.example.com"], paths: ["/a"] },
    ];
    expect(winner(routes, { host: "api.example.com", path: "/a" })).toBe(id(1));
    expect(winner(routes, { host: "web.example.com", path: "/a" })).toBe(id(2));
  });

  test("more headers beat a longer path (Kong's edge case)", () => {
    const routes: RouterRoute[] = [
      { id: id(1), headers: { version: ["v1"] }, paths: ["/my-route/hello"] },
      { id: id(2), headers: { version: ["v1"], location: ["us-east"] }, paths: ["/my-route"] },
    ];
    const headers = new Headers({ version: "v1", location: "us-east" });
    expect(winner(routes, { path: "/my-route/hello", headers })).toBe(id(2));
  });

  test("as in Kong, an empty hosts array still counts as 'plain hosts only'", () => {
    const routes = [
      { id: id(2), hosts: null, paths: ["/a"] },
      { id: id(1), hosts: [], paths: ["/a"] },
    ];
    expect(winner(routes, { path: "/a" })).toBe(id(1));
  });

  test("a regex path beats any prefix path at equal weight, however long", () => {
    const routes = [
      { id: id(1), paths: ["/a/very/long/prefix/path"] },
      { id: id(2), paths: ["~/a"] },
    ];
    expect(winner(routes, { path: "/a/very/long/prefix/path" })).toBe(id(2));
  });

  test("equal priority: the higher route id wins", () => {
    const routes = [
      { id: "aaaaaaaa-0000-4000-8000-000000000000", paths: ["/x"] },
      { id: "ffffffff-0000-4000-8000-000000000000", paths: ["/y"] },
      { id: "bbbbbbbb-0000-4000-8000-000000000000", paths: ["/x"] },
    ];
    expect(winner(routes, { path: "/x" })).toBe("bbbbbbbb-0000-4000-8000-000000000000");
    expect(winner(routes.slice().reverse(), { path: "/x" })).toBe("bbbbbbbb-0000-4000-8000-000000000000");
  });

  test("paths of different lengths split a route: each length ranks on its own", () => {
    const routes = [
      { id: id(1), paths: ["/a", "/bbbbbbb"] },
      { id: id(2), paths: ["/a/bb"] },
    ];
    expect(winner(routes, { path: "/a/bb/foobar" })).toBe(id(2));
    expect(winner(routes, { path: "/bbbbbbb/x" })).toBe(id(1));
    expect(routerOf(routes).size).toBe(3);
  });

  test("a split route's ties follow Kong's derived ids (UUIDv5 of `<id>#<group>`)", () => {
    const a = "11111111-0000-4000-8000-000000000000";
    const b = "22222222-0000-4000-8000-000000000000";
    const routes = [
      { id: a, paths: ["/ab", "/c"] },
      { id: b, paths: ["/ab"] },
    ];
    const groupId = uuidV5("7f145bf9-0dce-4f91-98eb-debbce4b9f6b", `${a}#1`);
    expect(winner(routes, { path: "/ab" })).toBe(groupId > b ? a : b);
  });
});

describe("what the caller needs", () => {
  test("an https-only route matched over http asks for https; over https it does not", () => {
    const routes = [{ id: id(1), protocols: ["https"], paths: ["/"], https_redirect_status_code: 301 }];
    const router = routerOf(routes);
    const overHttp = router.match(req({ protocol: "http" }));
    expect(overHttp?.httpsRequired).toBe(true);
    expect(overHttp?.route.https_redirect_status_code).toBe(301);
    expect(router.match(req({ protocol: "https" }))?.httpsRequired).toBe(false);
    expect(
      routerOf([{ id: id(2), protocols: ["http", "https"], paths: ["/"] }]).match(req())?.httpsRequired,
    ).toBe(false);
  });

  test("a route with an invalid header name is left out (logged) instead of throwing on every request", () => {
    const lines: string[] = [];
    setLogSink((l) => lines.push(l));
    try {
      const routes = [
        { id: id(2), paths: ["/"], headers: { "x foo": ["a"] } },
        { id: id(1), paths: ["/"] },
      ];
      expect(winner(routes, { headers: new Headers({ "x-foo": "a" }) })).toBe(id(1));
      expect(lines.join("")).toContain(`route ${id(2)}: 'x foo' is not a valid header name`);
    } finally {
      setLogSink((l) => process.stderr.write(l));
    }
  });

  test("stream routes are left to the stream router", () => {
    expect(
      winner([{ id: id(1), protocols: ["tcp", "tls"], snis: ["example.com"] }], { sni: "example.com" }),
    ).toBeNull();
  });

  test("the upstream path joins the service path, strips the prefix and is escaped", () => {
    const router = routerOf([{ id: id(1), paths: ["/api"], strip_path: true }], "/v2/");
    const m = router.match(req({ path: "/api/caf%C3%A9 menu" }));
    expect(m?.path).toBe("/api/café menu");
    expect(m?.upstreamPath).toBe("/v2/caf%C3%A9%20menu");
    expect(m?.strippedPrefix).toBe("/api");
  });

  test("without strip_path the matched prefix is reported but nothing is stripped", () => {
    const m = routerOf([{ id: id(1), paths: ["/api"], strip_path: false }], "/s").match(
      req({ path: "/api/x" }),
    );
    expect([m?.matchedPrefix, m?.strippedPrefix, m?.upstreamPath]).toEqual(["/api", "/", "/s/api/x"]);
  });

  test("path_handling v1 is ignored (traditional_compatible) unless asked for", () => {
    const routes = [{ id: id(1), paths: ["/fv1"], strip_path: false, path_handling: "v1" }];
    expect(compileRouter(routes, () => "/s").match(req({ path: "/fv1/req" }))?.upstreamPath).toBe(
      "/s/fv1/req",
    );
    const v1 = compileRouter(routes, () => "/s", { honorPathHandling: true });
    expect(v1.match(req({ path: "/fv1/req" }))?.upstreamPath).toBe("/sfv1/req");
  });
});

// ---- the indexed router against a naive linear scan in priority order ----

function uuidV5(namespace: string, name: string): string {
  const h = createHash("sha1")
    .update(Buffer.from(namespace.replaceAll("-", ""), "hex"))
    .update(name)
    .digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.toString("hex");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

test("the reference's UUIDv5 is RFC 4122's", () => {
  expect(uuidV5("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "www.example.com")).toBe(
    "2ed6657d-e927-568b-95e1-2665a8aea6a2",
  );
});

interface RefMatcher {
  route: RouterRoute;
  id: string;
  key: number[];
  paths: string[] | null;
}

/** Priority as kong-facts §8.2 lists it, written independently of the router. */
function referenceMatchers(routes: RouterRoute[]): RefMatcher[] {
  const out: RefMatcher[] = [];
  for (const r of routes) {
    const groups: string[][] = [];
    for (const p of r.paths ?? []) {
      const g = groups.find((x) =>
        x[0]!.startsWith("~") ? p.startsWith("~") : !p.startsWith("~") && x[0]!.length === p.length,
      );
      if (g) g.push(p);
      else groups.push([p]);
    }
    const alts = groups.length ? groups : [null];
    alts.forEach((paths, i) => {
      const regex = paths?.[0]?.startsWith("~") ?? false;
      const headers = Object.keys(r.headers ?? {}).length;
      const fields = [r.methods, r.hosts, headers ? [1] : [], r.snis, paths ?? []];
      out.push({
        route: r,
        id: alts.length > 1 ? uuidV5("7f145bf9-0dce-4f91-98eb-debbce4b9f6b", `${r.id}#${i + 1}`) : r.id,
        paths,
        key: [
          fields.filter((f) => f && f.length > 0).length,
          r.hosts && !r.hosts.some((h) => h.includes("*")) ? 1 : 0,
          headers,
          regex ? 1 : 0,
          regex ? (r.regex_priority ?? 0) : 0,
          paths && !regex ? paths[0]!.length : 0,
        ],
      });
    });
  }
  const cmp = (a: RefMatcher, b: RefMatcher) => {
    for (let i = 0; i < a.key.length; i++) if (a.key[i] !== b.key[i]) return b.key[i]! - a.key[i]!;
    return a.id < b.id ? 1 : -1;
  };
  return out.sort(cmp);
}

function refHostOk(pattern: string, host: string, listenerPort: number): boolean {
  const [name, port] = /^(.*):(\d+)$/.exec(pattern)?.slice(1) ?? [pattern, undefined];
  if (port !== undefined && Number(port) !== listenerPort) return false;
  const n = name!.toLowerCase();
  if (n.startsWith("*")) return host.endsWith(n.slice(1));
  if (n.endsWith("*")) return host.startsWith(n.slice(0, -1));
  return host === n;
}

function refPathOk(pattern: string, path: string): boolean {
  if (!pattern.startsWith("~")) return path.startsWith(pattern);
  const ci = pattern.startsWith("~(?i)");
  return new RegExp(`^${pattern.slice(ci ? 5 : 1)}`, ci ? "i" : "").test(path);
}

function refHeaderOk(values: string[], value: string | undefined): boolean {
  if (value === undefined) return false;
  return values.some((x) =>
    x.startsWith("~*") ? new RegExp(x.slice(2).toLowerCase()).test(value) : x.toLowerCase() === value,
  );
}

function refMatch(matchers: RefMatcher[], r: RouterRequest): string | null {
  const path = normalizePath(r.path);
  const [, hostPart, portPart] = /^([^:]*):(\d+)$/.exec(r.host) ?? [r.host, r.host, undefined];
  const host = hostPart!.toLowerCase();
  const port = portPart ? Number(portPart) : r.port;
  const sni = (r.sni === undefined ? host : r.sni)?.toLowerCase();
  for (const { route, paths } of matchers) {
    if (route.methods?.length && !route.methods.includes(r.method)) continue;
    if (route.hosts?.length && !(host && route.hosts.some((h) => refHostOk(h, host, port)))) continue;
    if (paths && !paths.some((p) => refPathOk(p, path))) continue;
    const headers = Object.entries(route.headers ?? {});
    if (!headers.every(([name, values]) => refHeaderOk(values, r.headers.get(name)?.toLowerCase()))) continue;
    if (
      route.snis?.length &&
      r.protocol === "https" &&
      !(sni && route.snis.some((s) => refHostOk(s, sni, -1)))
    )
      continue;
    return route.id;
  }
  return null;
}

function prng(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const some = <T>(xs: readonly T[], p: number): T[] | null => {
    if (next() > p) return null;
    const n = 1 + Math.floor(next() * 3);
    return [...new Set(Array.from({ length: n }, () => pick(xs)))];
  };
  return { next, pick, some };
}

const HOSTS = ["a.com", "b.com", "*.a.com", "x.*", "a.com:8000", "*.com", "A.com", "b.*:8443", "x.org"];
const PLAIN = ["/", "/a", "/ab", "/a/b", "/api", "/api/v1", "/users", "/x", "/files"];
const REGEX = [
  "~/api/v\\d+/",
  "~/(a|b)/x",
  "~/users/(?<id>\\d+)",
  "~/x|/y",
  "~/ab?c",
  "~/a*b",
  "~/files/.*\\.png$",
  "~(?i)/case",
  "~/a\\/b",
];
const METHODS = ["GET", "POST", "PUT", "PURGE"];
const SNIS = ["a.com", "*.a.com", "b.*"];
const REQ_HOSTS = ["a.com", "x.a.com", "y.x.a.com", "x.org", "b.com:8000", "A.COM", "", "xa.com", "b.net"];
const REQ_PATHS = [
  "/",
  "/a",
  "/ab/c",
  "/abc",
  "/a/b/c",
  "/api/v1/users",
  "/api/v22/x",
  "/users/12/profile",
  "/x/y",
  "/y",
  "/files/a.png",
  "/CASE/x",
  "/a/x",
  "/b/x",
  "/aab",
  "/a/../api/v1",
  "/%61b",
];

function randomRoutes(rand: ReturnType<typeof prng>, n: number): RouterRoute[] {
  return Array.from({ length: n }, () => {
    const paths = rand.some(rand.next() < 0.3 ? [...PLAIN, ...REGEX] : PLAIN, 0.8);
    const headers: Record<string, string[]> = {};
    if (rand.next() < 0.2) headers["x-v"] = rand.some(["v1", "V2", "~*^v\\d$"], 1)!;
    if (rand.next() < 0.1) headers["x-t"] = rand.some(["t1", "t2"], 1)!;
    const route: RouterRoute = {
      id: Array.from({ length: 4 }, () =>
        Math.floor(rand.next() * 0x10000)
          .toString(16)
          .padStart(4, "0"),
      ).join("-"),
      methods: rand.some(METHODS, 0.3),
      hosts: rand.some(HOSTS, 0.5),
      paths,
      headers: Object.keys(headers).length ? headers : null,
      snis: rand.some(SNIS, 0.1),
      regex_priority: rand.pick([0, 0, 1, 2, -1]),
    };
    const fields = [route.methods, route.hosts, route.paths, route.snis, route.headers && [1]];
    if (!fields.some((f) => f)) route.paths = [rand.pick(PLAIN)];
    return route;
  });
}

function randomRequest(rand: ReturnType<typeof prng>): RouterRequest {
  const headers = new Headers();
  if (rand.next() < 0.4) headers.set("x-v", rand.pick(["v1", "v2", "V3", "x"]));
  if (rand.next() < 0.2) headers.set("x-t", rand.pick(["t1", "t2"]));
  return {
    method: rand.pick(METHODS),
    host: rand.pick(REQ_HOSTS),
    port: rand.pick([8000, 8443]),
    path: rand.pick(REQ_PATHS),
    headers,
    sni: rand.pick([undefined, null, "a.com", "q.a.com", "b.io"]),
    protocol: rand.pick(["http", "https"] as const),
  };
}

describe("the indexed router returns what a linear scan in priority order returns", () => {
  test.each([
    [1, 50, 2000],
    [2, 300, 2000],
    [3, 2000, 2000],
    [4, 6000, 1000],
  ])("seed %i: %i random routes, %i random requests", (seed, nRoutes, nRequests) => {
    const rand = prng(seed);
    const routes = randomRoutes(rand, nRoutes);
    const router = compileRouter(routes, () => null);
    const reference = referenceMatchers(routes);
    const winners = new Set<string>();
    for (let i = 0; i < nRequests; i++) {
      const r = randomRequest(rand);
      const got = router.match(r);
      const want = refMatch(reference, r);
      if ((got?.route.id ?? null) !== want) {
        throw new Error(
          `request ${JSON.stringify({ ...r, headers: Object.fromEntries(r.headers as Headers) })}: got ${got?.route.id}, want ${want}`,
        );
      }
      if (want) winners.add(want);
    }
    // the random pools must make many different routes win, or the comparison proves little
    expect(winners.size).toBeGreaterThan(20);
  });
});
