/** Hybrid compatibility and bad-frame handling end to end: DP version and plugin-set rules on the CP, invalid config frames on the DP. */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Server, ServerWebSocket } from "bun";
import { GW_VERSION } from "../../src/version";
import { type GwProcess, waitFor } from "../helpers/gw";
import {
  admin,
  configHashOf,
  genSharedCert,
  type SharedCert,
  startControlPlane,
  startDataPlane,
  untilServed,
} from "../helpers/hybrid";
import { startEchoUpstream, type TestUpstream } from "../helpers/upstream";

setDefaultTimeout(60_000);

let cert: SharedCert;
let upstream: TestUpstream;
const nodes: GwProcess[] = [];
const rawClients: RawDataPlane[] = [];

interface Row {
  id: string;
  sync_status: string;
  version: string;
  config_hash: string;
  expected_config_hash: string | null;
}

const rowOf = async (cp: GwProcess, id: string) =>
  ((await admin(cp, "GET", "/clustering/data-planes")).body.data as Row[]).find((r) => r.id === id);

const untilRow = (cp: GwProcess, id: string, status: string) =>
  waitFor(`data plane ${id} listed with sync_status ${status}`, async () => {
    const row = await rowOf(cp, id);
    return row?.sync_status === status ? row : undefined;
  });

const gunzipJson = (data: ArrayBuffer) =>
  JSON.parse(new TextDecoder().decode(Bun.gunzipSync(new Uint8Array(data)))) as { type: string };

/** A hand-driven DP link: dials the CP with the shared cluster cert and announces whatever version and plugins a test needs. */
interface RawDataPlane {
  id: string;
  /** Message types the CP sent, decoded as the DP does (gzip'd JSON). */
  received: string[];
  closed: Promise<{ code: number; reason: string }>;
  /** Resolves on the pong to a ping sent now: every frame the CP sent before it has arrived. */
  roundTrip(): Promise<void>;
  close(): void;
}

function rawDataPlane(cp: GwProcess, version: string, plugins: string[]): Promise<RawDataPlane> {
  const id = crypto.randomUUID();
  const url = `wss://127.0.0.1:${cp.cluster}/v1/outlet?node_id=${id}&node_hostname=raw-dp&node_version=${version}`;
  const tls = {
    cert: readFileSync(cert.cert, "utf8"),
    key: readFileSync(cert.key, "utf8"),
    rejectUnauthorized: false,
  };
  const ws = new WebSocket(url, { tls } as unknown as string[]);
  ws.binaryType = "arraybuffer";
  const received: string[] = [];
  const pongs: (() => void)[] = [];
  ws.addEventListener("message", (ev) => received.push(gunzipJson(ev.data as ArrayBuffer).type));
  ws.addEventListener("pong" as "message", () => pongs.shift()?.());
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.addEventListener("close", (ev) => resolve({ code: ev.code, reason: ev.reason })),
  );
  return new Promise((resolve, fail) => {
    ws.addEventListener("error", (ev) =>
      fail(new Error(`raw DP link failed: ${(ev as ErrorEvent).message}`)),
    );
    ws.addEventListener("open", () => {
      const info = { type: "basic_info", plugins: plugins.map((name) => ({ name, version: GW_VERSION })) };
      ws.send(new TextEncoder().encode(JSON.stringify(info)));
      const client: RawDataPlane = {
        id,
        received,
        closed,
        roundTrip: () =>
          new Promise((done) => {
            pongs.push(done);
            (ws as unknown as { ping(data?: string): void }).ping("");
          }),
        close: () => ws.close(),
      };
      rawClients.push(client);
      resolve(client);
    });
  });
}

async function serverPlugins(cp: GwProcess): Promise<string[]> {
  const root = await admin(cp, "GET", "/");
  return Object.keys(root.body.plugins.available_on_server as Record<string, unknown>);
}

beforeAll(async () => {
  upstream = startEchoUpstream("compat");
  cert = await genSharedCert();
});

afterAll(async () => {
  for (const client of rawClients) client.close();
  for (const node of nodes) await node.kill();
  await upstream?.stop();
});

describe("data plane version", () => {
  let cp: GwProcess;
  let all: string[];
  beforeAll(async () => {
    cp = await startControlPlane(cert);
    nodes.push(cp);
    all = await serverPlugins(cp);
  });

  test("an older minor on the same major is accepted and gets the config", async () => {
    const dp = await rawDataPlane(cp, "3.9.0", all);
    await waitFor("a reconfigure frame", () => dp.received.includes("reconfigure"));
    expect((await untilRow(cp, dp.id, "normal")).version).toBe("3.9.0");
  });

  test("another major (4.0.0) is closed with Kong's wording and listed kong_version_incompatible", async () => {
    const dp = await rawDataPlane(cp, "4.0.0", all);
    expect((await dp.closed).code).toBe(1008);
    expect(dp.received).not.toContain("reconfigure");
    await untilRow(cp, dp.id, "kong_version_incompatible");
    expect(cp.output()).toContain(
      `data plane version 4.0.0 is incompatible with control plane version ${GW_VERSION}`,
    );
  });

  test("a newer minor (3.11.0) than the CP's is refused as incompatible with an older CP", async () => {
    const dp = await rawDataPlane(cp, "3.11.0", all);
    expect((await dp.closed).code).toBe(1008);
    expect(dp.received).not.toContain("reconfigure");
    await untilRow(cp, dp.id, "kong_version_incompatible");
    expect(cp.output()).toContain(
      `data plane version 3.11.0 is incompatible with older control plane version ${GW_VERSION}`,
    );
  });
});

describe("plugin configured on the CP but missing on the DP", () => {
  let cp: GwProcess;
  let all: string[];
  beforeAll(async () => {
    cp = await startControlPlane(cert);
    nodes.push(cp);
    all = await serverPlugins(cp);
    expect((await admin(cp, "POST", "/services", { name: "echo", url: upstream.url })).status).toBe(201);
    expect((await admin(cp, "POST", "/services/echo/routes", { paths: ["/before"] })).status).toBe(201);
  });

  test("a real DP without key-auth keeps its config once key-auth is configured, and is listed plugin_set_incompatible", async () => {
    const dp = await startDataPlane(cert, cp, { args: ["--plugins", "cors"] });
    nodes.push(dp);
    expect((await untilServed(dp, "/before/x")).status).toBe(200);
    const dpId = readFileSync(join(dp.prefix, "kong.id"), "utf8").trim();
    const before = await configHashOf(dp);
    await untilRow(cp, dpId, "normal");

    expect((await admin(cp, "POST", "/plugins", { name: "key-auth" })).status).toBe(201);
    expect((await admin(cp, "POST", "/services/echo/routes", { paths: ["/after"] })).status).toBe(201);
    const row = await waitFor("the CP to expect a config this DP does not run", async () => {
      const r = await rowOf(cp, dpId);
      return r?.sync_status === "plugin_set_incompatible" && r.expected_config_hash !== before
        ? r
        : undefined;
    });
    expect(row.config_hash).toBe(before);
    await waitFor(
      "the CP to log why",
      () =>
        cp.output().includes("configured key-auth plugin") &&
        cp.output().includes("is missing from data plane"),
    );
    expect(await configHashOf(dp)).toBe(before);
    expect((await fetch(`${dp.proxy}/after/x`)).status).toBe(404);
    // Still the old config: no key needed where the CP's config would now demand one.
    expect((await fetch(`${dp.proxy}/before/x`)).status).toBe(200);
  });

  test("a raw DP announcing every plugin but key-auth receives no reconfigure frame", async () => {
    const dp = await rawDataPlane(
      cp,
      GW_VERSION,
      all.filter((p) => p !== "key-auth"),
    );
    await untilRow(cp, dp.id, "plugin_set_incompatible");
    await dp.roundTrip();
    expect(dp.received).not.toContain("reconfigure");
  });

  test("the same DP announcing key-auth too gets the config", async () => {
    const dp = await rawDataPlane(cp, GW_VERSION, all);
    await waitFor("a reconfigure frame", () => dp.received.includes("reconfigure"));
    await untilRow(cp, dp.id, "normal");
  });
});

describe("invalid config frames from a control plane", () => {
  /** A TLS WebSocket server holding the shared cluster cert: the DP trusts it as its CP. */
  let fake: Server<undefined>;
  let link: ServerWebSocket<undefined> | null = null;
  const fromDp: string[] = [];
  let dp: GwProcess;

  const send = (data: string | Uint8Array) => {
    if (!link) throw new Error("the DP is not connected to the fake CP");
    link.send(typeof data === "string" ? Bun.gzipSync(data) : data);
  };
  const reconfigure = (config_table: unknown) => {
    const body = JSON.stringify(config_table);
    const config_hash = new Bun.CryptoHasher("md5").update(body).digest("hex");
    send(JSON.stringify({ type: "reconfigure", timestamp: Date.now() / 1000, config_table, config_hash }));
    return config_hash;
  };
  const table = (path: string) => ({
    _format_version: "3.0",
    services: [{ name: "echo", url: upstream.url, routes: [{ name: "r", paths: [path] }] }],
  });
  const failures = () => dp.output().split("unable to update running config").length - 1;

  /** Sends a bad frame; the DP logs it, keeps serving /fake on the same hash, and stays up. */
  async function expectKept(sendBad: () => void, reason: string): Promise<void> {
    const hash = await configHashOf(dp);
    const seen = failures();
    sendBad();
    await waitFor("the DP to log the refused frame", () => failures() > seen);
    expect(dp.output()).toContain(reason);
    expect(dp.proc.exitCode).toBeNull();
    expect(await configHashOf(dp)).toBe(hash);
    expect((await fetch(`${dp.proxy}/fake/x`)).status).toBe(200);
    expect((await fetch(`${dp.status}/status/ready`)).status).toBe(200);
  }

  beforeAll(async () => {
    fake = Bun.serve<undefined>({
      hostname: "127.0.0.1",
      port: 0,
      tls: { cert: Bun.file(cert.cert), key: Bun.file(cert.key) },
      fetch: (req, server) =>
        server.upgrade(req) ? undefined : new Response("upgrade failed", { status: 400 }),
      websocket: {
        message(ws, message) {
          if (!link) {
            link = ws;
            // Tells the DP it may report refused configs, as a gw CP does.
            ws.send(Bun.gzipSync(JSON.stringify({ type: "gw_hello", version: GW_VERSION })));
          }
          fromDp.push(typeof message === "string" ? message : new TextDecoder().decode(message));
        },
      },
    });
    dp = await startDataPlane(cert, fake.port!);
    nodes.push(dp);
    await waitFor("the DP to dial the fake CP", () => link !== null);
    reconfigure(table("/fake"));
    expect((await untilServed(dp, "/fake/x")).status).toBe(200);
  });

  afterAll(async () => {
    await fake?.stop(true);
  });

  test("garbage bytes", async () => {
    await expectKept(() => send(crypto.getRandomValues(new Uint8Array(64))), "frame is not gzip data");
  });

  test("gzip'd text that is not JSON", async () => {
    await expectKept(() => send("{ not json"), "not valid JSON after gunzip");
  });

  test("a reconfigure whose route is invalid is refused, and the DP tells the CP why", async () => {
    let hash = "";
    await expectKept(() => {
      hash = reconfigure(table("no-leading-slash"));
    }, "bad config received from control plane");
    const report = await waitFor("a config_rejected frame", () =>
      fromDp.find((m) => m.includes("config_rejected") && m.includes(hash)),
    );
    expect(report).toContain("paths");
  });

  test("a valid reconfigure after the bad ones is applied", async () => {
    reconfigure(table("/fresh"));
    expect((await untilServed(dp, "/fresh/x")).status).toBe(200);
    expect((await fetch(`${dp.proxy}/fake/x`)).status).toBe(404);
  });
});
