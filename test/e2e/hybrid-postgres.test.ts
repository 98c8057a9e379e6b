/** Two control planes on one PostgreSQL database end to end: a change made through either reaches DPs connected to the other. */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { SQL } from "bun";
import { type GwProcess, runGw, waitFor } from "../helpers/gw";
import {
  admin,
  genSharedCert,
  type SharedCert,
  startControlPlane,
  startDataPlane,
  untilServed,
} from "../helpers/hybrid";
import { startEchoUpstream, type TestUpstream } from "../helpers/upstream";

setDefaultTimeout(60_000);

const database = `gw_hybrid_${crypto.randomUUID().replaceAll("-", "")}`;
const pgArgs = [
  "--database",
  "postgres",
  "--pg_host",
  "127.0.0.1",
  "--pg_port",
  "5432",
  "--pg_user",
  "postgres",
  "--pg_database",
  database,
];

let server: SQL;
let cert: SharedCert;
let upstream: TestUpstream;
let cpA: GwProcess;
let cpB: GwProcess;
let dp: GwProcess;

beforeAll(async () => {
  server = new SQL({ url: "postgres://postgres@127.0.0.1:5432/postgres", max: 1 });
  await server.unsafe(`CREATE DATABASE ${database}`);
  const bootstrap = await runGw(["migrations", "bootstrap", ...pgArgs]);
  if (bootstrap.code !== 0) throw new Error(`migrations bootstrap failed: ${bootstrap.output}`);
  upstream = startEchoUpstream("pg");
  cert = await genSharedCert();
  [cpA, cpB] = await Promise.all([
    startControlPlane(cert, { args: pgArgs }),
    startControlPlane(cert, { args: pgArgs }),
  ]);
  dp = await startDataPlane(cert, cpB);
});

afterAll(async () => {
  for (const node of [dp, cpB, cpA]) await node?.kill();
  await upstream?.stop();
  await server?.unsafe(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  await server?.close();
});

test("a route created through CP-A's Admin API is served by a DP connected to CP-B", async () => {
  expect((await admin(cpA, "POST", "/services", { name: "echo", url: upstream.url })).status).toBe(201);
  expect((await admin(cpA, "POST", "/services/echo/routes", { name: "r", paths: ["/pg"] })).status).toBe(201);
  const res = await untilServed(dp, "/pg/x");
  expect(((await res.json()) as { path: string }).path).toBe("/x");
});

test("both CPs list the DP from the shared database, in sync", async () => {
  const dpId = readFileSync(join(dp.prefix, "kong.id"), "utf8").trim();
  for (const cp of [cpA, cpB]) {
    const row = await waitFor("the DP listed as normal", async () => {
      const rows = (await admin(cp, "GET", "/clustering/data-planes")).body.data as {
        id: string;
        sync_status: string;
      }[];
      return rows.find((r) => r.id === dpId && r.sync_status === "normal");
    });
    expect(row.id).toBe(dpId);
  }
});

test("deleting the route through CP-A stops the DP serving it", async () => {
  expect((await admin(cpA, "DELETE", "/routes/r")).status).toBe(204);
  expect((await untilServed(dp, "/pg/x", 404)).status).toBe(404);
});
