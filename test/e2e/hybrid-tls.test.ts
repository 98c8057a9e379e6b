/** Hybrid mode with cluster_mtls = pki end to end: per-node certificates, name checks, EKU, expiry, OCSP against openssl. */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, type GwProcess, waitFor } from "../helpers/gw";
import { admin, startControlPlane, startDataPlane, untilServed } from "../helpers/hybrid";
import { type OcspResponder, startOcspResponder } from "../helpers/ocsp-responder";
import { createTestPki, type Issued, type TestPki } from "../helpers/pki";
import { startEchoUpstream, type TestUpstream } from "../helpers/upstream";

setDefaultTimeout(60_000);

const CP_NAME = "cp.gw.test";
const DAY_MS = 86_400_000;

let pki: TestPki;
let responder: OcspResponder;
let upstream: TestUpstream;
let cpCert: Issued;
const nodes: GwProcess[] = [];

const pair = (c: Issued) => ({ cert: c.chainPath, key: c.keyPath });

async function controlPlane(ocsp: "off" | "on" | "optional"): Promise<GwProcess> {
  const cp = await startControlPlane(pair(cpCert), {
    args: ["--cluster_mtls", "pki", "--cluster_ca_cert", pki.root.certPath, "--cluster_ocsp", ocsp],
  });
  nodes.push(cp);
  expect((await admin(cp, "POST", "/services", { name: "echo", url: upstream.url })).status).toBe(201);
  expect((await admin(cp, "POST", "/services/echo/routes", { paths: ["/pki"] })).status).toBe(201);
  return cp;
}

async function dataPlane(cp: GwProcess, cert: Issued, serverName = CP_NAME): Promise<GwProcess> {
  const dp = await startDataPlane(pair(cert), cp, {
    args: [
      "--cluster_mtls",
      "pki",
      "--cluster_ca_cert",
      pki.root.certPath,
      "--cluster_server_name",
      serverName,
    ],
  });
  nodes.push(dp);
  return dp;
}

const rows = async (cp: GwProcess) =>
  (await admin(cp, "GET", "/clustering/data-planes")).body.data as { id: string; sync_status: string }[];

/** A DP that got the CP's config: it serves the route, is ready, and the CP lists it in sync. */
async function expectAccepted(cp: GwProcess, dp: GwProcess): Promise<void> {
  expect((await untilServed(dp, "/pki/x")).status).toBe(200);
  expect((await fetch(`${dp.status}/status/ready`)).status).toBe(200);
  const nodeId = readFileSync(join(dp.prefix, "kong.id"), "utf8").trim();
  const listed = await waitFor("the DP listed as normal", async () =>
    (await rows(cp)).find((r) => r.id === nodeId && r.sync_status === "normal"),
  );
  expect(listed.sync_status).toBe("normal");
}

/** A DP turned away: `log` (of the CP or the DP) states the reason, the DP serves nothing and is not ready. */
async function expectRefused(dp: GwProcess, log: GwProcess, reason: string): Promise<void> {
  await waitFor(`"${reason}" in the log`, () => log.output().includes(reason));
  await waitFor("the DP to log the broken link", () => dp.output().includes("connection to control plane"));
  expect((await fetch(`${dp.proxy}/pki/x`)).status).toBe(404);
  expect((await fetch(`${dp.status}/status/ready`)).status).toBe(503);
}

beforeAll(async () => {
  upstream = startEchoUpstream("pki");
  pki = await createTestPki({ intermediates: 1 });
  const signer = await pki.leaf({ name: "ocsp-signer", cn: "OCSP signer", eku: ["ocspSigning"] });
  // The index is re-read per request, so the responder can start before the certificates it lists exist.
  responder = await startOcspResponder({
    indexPath: join(pki.dir, "ocsp.index.txt"),
    caPath: pki.issuing.certPath,
    signerCertPath: signer.certPath,
    signerKeyPath: signer.keyPath,
  });
  cpCert = await pki.leaf({ name: "cp", cn: CP_NAME, sans: [CP_NAME], eku: ["serverAuth"] });
});

afterAll(async () => {
  for (const node of nodes) await node.kill();
  await responder?.stop();
  await upstream?.stop();
});

describe("cluster_mtls = pki", () => {
  let cp: GwProcess;
  beforeAll(async () => {
    cp = await controlPlane("off");
  });

  test("a DP with a clientAuth certificate from cluster_ca_cert gets the config", async () => {
    const cert = await pki.leaf({ name: "dp-good", cn: "dp-good", eku: ["clientAuth"] });
    await expectAccepted(cp, await dataPlane(cp, cert));
  });

  test("a DP certificate from another CA is refused by the CP", async () => {
    const cert = await pki.leaf({ name: "dp-other-ca", cn: "dp", eku: ["clientAuth"], issuer: pki.otherCa });
    await expectRefused(await dataPlane(cp, cert), cp, "does not verify against cluster_ca_cert");
  });

  test("a DP whose cluster_server_name is not the CP certificate's name refuses the CP and names the expected name", async () => {
    const cert = await pki.leaf({ name: "dp-sni", cn: "dp-sni", eku: ["clientAuth"] });
    const dp = await dataPlane(cp, cert, "other.gw.test");
    await expectRefused(dp, dp, "not valid for the name 'other.gw.test'");
  });

  test("an expired DP certificate is refused, and the CP log says it expired", async () => {
    const cert = await pki.leaf({
      name: "dp-expired",
      cn: "dp-expired",
      eku: ["clientAuth"],
      notBefore: new Date(Date.now() - 10 * DAY_MS),
      notAfter: new Date(Date.now() - DAY_MS),
    });
    await expectRefused(await dataPlane(cp, cert), cp, "data plane client certificate has expired");
  });

  test("a DP certificate without EKU clientAuth is refused", async () => {
    const cert = await pki.leaf({ name: "dp-server-only", cn: "dp", eku: ["serverAuth"] });
    await expectRefused(await dataPlane(cp, cert), cp, "extended key usage clientAuth is missing");
  });

  test("a client presenting no certificate is refused before the upgrade, and the CP log says so", async () => {
    const ws = new WebSocket(`wss://127.0.0.1:${cp.cluster}/v1/outlet?node_id=x&node_version=3.10.0`, {
      tls: { rejectUnauthorized: false },
    } as unknown as string[]);
    let opened = false;
    ws.addEventListener("open", () => {
      opened = true;
    });
    await new Promise((resolve) => ws.addEventListener("close", resolve));
    expect(opened).toBe(false);
    await waitFor("the CP to log the missing certificate", () =>
      cp.output().includes("data plane failed to present client certificate during handshake"),
    );
  });

  test("only the accepted DP is listed", async () => {
    expect(await rows(cp)).toHaveLength(1);
  });
});

describe("cluster_ocsp against an openssl responder", () => {
  let cpOn: GwProcess;
  let cpOptional: GwProcess;
  let good: Issued;
  let revoked: Issued;
  let unreachable: Issued;

  beforeAll(async () => {
    const leaf = (name: string, ocspUrl: string) =>
      pki.leaf({ name, cn: name, eku: ["clientAuth"], ocspUrl });
    good = await leaf("dp-ocsp-good", responder.url);
    revoked = await leaf("dp-ocsp-revoked", responder.url);
    // A port nobody listens on: the responder is down.
    unreachable = await leaf("dp-ocsp-down", `http://127.0.0.1:${freePort()}`);
    pki.ocspIndex("ocsp", [good, unreachable], [revoked]);
    [cpOn, cpOptional] = await Promise.all([controlPlane("on"), controlPlane("optional")]);
  });

  test("on: a DP the responder says is good is accepted", async () => {
    await expectAccepted(cpOn, await dataPlane(cpOn, good));
    expect(responder.requests()).toBeGreaterThan(0);
  });

  test("on: a revoked DP certificate is refused", async () => {
    await expectRefused(await dataPlane(cpOn, revoked), cpOn, "data plane client certificate was revoked");
  });

  test("optional: a revoked DP certificate is refused too", async () => {
    await expectRefused(
      await dataPlane(cpOptional, revoked),
      cpOptional,
      "data plane client certificate was revoked",
    );
  });

  test("on: with the responder down the DP is refused", async () => {
    await expectRefused(
      await dataPlane(cpOn, unreachable),
      cpOn,
      "data plane client certificate revocation check failed",
    );
  });

  test("optional: with the responder down the DP is accepted, with a warning", async () => {
    await expectAccepted(cpOptional, await dataPlane(cpOptional, unreachable));
    expect(cpOptional.output()).toContain("cluster_ocsp = optional: accepting data plane");
  });
});
