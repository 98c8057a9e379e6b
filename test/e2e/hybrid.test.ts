/** Hybrid mode end to end: a control plane and data planes of the compiled binary over mutual TLS. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type GwProcess, runGw, tempDir, waitFor } from "../helpers/gw";
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

let cert: SharedCert;
let upstream: TestUpstream;
let cp: GwProcess;
let dp1: GwProcess;
let dp2: GwProcess;
const others: GwProcess[] = [];

beforeAll(async () => {
  upstream = startEchoUpstream("hybrid");
  cert = await genSharedCert();
  cp = await startControlPlane(cert);
  dp1 = await startDataPlane(cert, cp);
  dp2 = await startDataPlane(cert, cp);
});

afterAll(async () => {
  for (const node of [...others, dp1, dp2, cp]) await node?.kill();
  await upstream?.stop();
});

describe("config flows from the CP to every DP", () => {
  test("a route created on the CP is served by both data planes", async () => {
    expect((await admin(cp, "POST", "/services", { name: "echo", url: upstream.url })).status).toBe(201);
    expect((await admin(cp, "POST", "/services/echo/routes", { name: "r", paths: ["/hybrid"] })).status).toBe(
      201,
    );
    for (const dp of [dp1, dp2]) {
      const res = await untilServed(dp, "/hybrid/x");
      expect(((await res.json()) as { path: string }).path).toBe("/x");
    }
  });

  test("/clustering/data-planes lists both DPs with the hash they run, which is the CP's", async () => {
    const hashes = await Promise.all([configHashOf(dp1), configHashOf(dp2)]);
    expect(hashes[0]).toBe(hashes[1]!);
    const listed = await waitFor("both DPs reporting the current hash", async () => {
      const r = await admin(cp, "GET", "/clustering/data-planes");
      const rows = r.body.data as {
        id: string;
        config_hash: string;
        sync_status: string;
        expected_config_hash: string;
      }[];
      return rows.length >= 2 && rows.every((row) => row.config_hash === hashes[0]) ? rows : undefined;
    });
    for (const row of listed) {
      expect(row.sync_status).toBe("normal");
      expect(row.expected_config_hash).toBe(hashes[0]!);
    }
  });

  test("the CP's status reports a database; DPs report ready", async () => {
    expect((await fetch(`${dp1.status}/status/ready`)).status).toBe(200);
    const cpStatus = (await (await fetch(`${cp.status}/status`)).json()) as {
      database: { reachable: boolean };
    };
    expect(cpStatus.database.reachable).toBe(true);
  });

  test("a data plane has no Admin API", async () => {
    await expect(fetch(`${dp1.admin}/`)).rejects.toThrow();
  });
});

describe("when the CP is gone", () => {
  test("DPs keep serving; a DP restarted while the CP is down serves from its cache", async () => {
    await cp.kill();
    expect((await fetch(`${dp1.proxy}/hybrid/still`)).status).toBe(200);
    const prefix = dp2.prefix;
    await dp2.kill();
    dp2 = await startDataPlane(cert, cp.cluster, { prefix });
    expect((await untilServed(dp2, "/hybrid/from-cache")).status).toBe(200);
    expect((await fetch(`${dp2.status}/status/ready`)).status).toBe(200);
  });

  test("a new DP given a copy of another's cache serves the same routes", async () => {
    const prefix = tempDir("dp-copied");
    copyFileSync(join(dp1.prefix, "config.json.gz"), join(prefix, "config.json.gz"));
    const dp = await startDataPlane(cert, cp.cluster, { prefix });
    others.push(dp);
    expect((await untilServed(dp, "/hybrid/copied")).status).toBe(200);
  });

  test("a corrupt cache is reported and skipped: the DP starts empty (404) and not ready", async () => {
    const prefix = tempDir("dp-corrupt");
    writeFileSync(join(prefix, "config.json.gz"), "not gzip at all");
    const dp = await startDataPlane(cert, cp.cluster, { prefix });
    others.push(dp);
    const res = await fetch(`${dp.proxy}/hybrid/x`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { message: string }).message).toBe("no Route matched with those values");
    expect((await fetch(`${dp.status}/status/ready`)).status).toBe(503);
    expect(dp.output()).toContain("config.json.gz");
  });
});

describe("mTLS refusals", () => {
  test("a DP with a different shared certificate never gets a config, and its log says why", async () => {
    const cp2 = await startControlPlane(cert);
    others.push(cp2);
    const wrong = await genSharedCert();
    const dp = await startDataPlane(wrong, cp2);
    others.push(dp);
    // The DP trusts only its own cluster_cert, so it refuses the CP's certificate during the handshake.
    await waitFor("the DP to log the refused connection", () =>
      dp.output().includes("connection to control plane"),
    );
    expect(dp.output()).toContain("cluster_cert");
    expect((await fetch(`${dp.status}/status/ready`)).status).toBe(503);
    expect((await admin(cp2, "GET", "/clustering/data-planes")).body.data).toHaveLength(0);
  });
});

describe("gen_cert", () => {
  test("refuses to overwrite", async () => {
    const again = await runGw(["hybrid", "gen_cert", cert.cert, cert.key]);
    expect(again.code).not.toBe(0);
    expect(again.output).toContain("already exists");
  });
});
