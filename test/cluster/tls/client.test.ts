import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createServer } from "node:tls";
import { type ClusterCert, generateClusterCert } from "../../../src/cluster/tls/certs";
import {
  type ClusterClientInput,
  clusterClientTls,
  controlPlaneHost,
  explainClusterError,
} from "../../../src/cluster/tls/client";
import type { ClusterListener } from "../../../src/cluster/tls/listener";
import { pemOrThrow } from "../../../src/settings/pem";
import { freePort } from "../../helpers/gw";
import { createTestPki, type Issued, type TestPki } from "../../helpers/pki";
import { captureLog, dial, echoPeerListener } from "./dial";

const log = captureLog();

let pki: TestPki;
let dp: Issued;
beforeAll(async () => {
  pki = await createTestPki({ intermediates: 1 });
  dp = await pki.leaf({ name: "dp", cn: "dp1", eku: ["clientAuth"] });
});

describe("pki mode: the DP checks the control plane certificate", () => {
  const listeners: ClusterListener[] = [];
  afterAll(async () => {
    for (const l of listeners) await l.stop();
  });

  async function cpWith(spec: {
    name: string;
    sans: string[];
    eku?: ("serverAuth" | "clientAuth")[];
    foreign?: boolean;
  }) {
    const cert = await pki.leaf({
      name: spec.name,
      cn: spec.sans[0]!,
      sans: spec.sans,
      eku: spec.eku ?? ["serverAuth"],
      issuer: spec.foreign ? pki.otherCa : pki.root,
    });
    const l = await echoPeerListener({
      certPem: cert.chainPem,
      keyPem: cert.keyPem,
      mode: "pki",
      caPem: pki.root.certPem,
    });
    listeners.push(l);
    return l;
  }

  const input = (l: ClusterListener, serverName?: string): ClusterClientInput => ({
    cluster_mtls: "pki",
    cluster_cert: dp.chainPath,
    cluster_cert_key: dp.keyPath,
    cluster_ca_cert: pki.root.certPath,
    cluster_server_name: serverName ?? null,
    cluster_control_plane: `127.0.0.1:${l.port}`,
  });

  test("a CP certificate for cluster_server_name is accepted", async () => {
    const l = await cpWith({ name: "cp-ok", sans: ["cp.example"] });
    const outcome = await dial(l.port, clusterClientTls(input(l, "cp.example")));
    expect(outcome.error).toBe("");
    expect(JSON.parse(outcome.message!).commonName).toBe("dp1");
  });

  test("a CP certificate for another name is refused by the DP, and the reason says which name", async () => {
    const l = await cpWith({ name: "cp-other", sans: ["other.example"] });
    const settings = input(l, "cp.example");
    const outcome = await dial(l.port, clusterClientTls(settings));
    expect(outcome.message).toBeNull();
    expect(explainClusterError(outcome.error, settings)).toStartWith(
      "the control plane certificate is not valid for the name 'cp.example': set cluster_server_name",
    );
    // The CP never got far enough to judge the DP.
    expect(log.join("")).not.toContain("[error]");
  });

  test("without cluster_server_name the DP expects the host of cluster_control_plane", async () => {
    const byIp = await cpWith({ name: "cp-ip", sans: ["127.0.0.1"] });
    expect((await dial(byIp.port, clusterClientTls(input(byIp)))).error).toBe("");
    const byName = await cpWith({ name: "cp-name-only", sans: ["cp.example"] });
    const settings = input(byName);
    const outcome = await dial(byName.port, clusterClientTls(settings));
    expect(outcome.message).toBeNull();
    expect(explainClusterError(outcome.error, settings)).toContain("not valid for the name '127.0.0.1'");
  });

  test("a CP certificate without EKU serverAuth is refused", async () => {
    const l = await cpWith({ name: "cp-client-eku", sans: ["cp.example"], eku: ["clientAuth"] });
    const settings = input(l, "cp.example");
    const outcome = await dial(l.port, clusterClientTls(settings));
    expect(outcome.message).toBeNull();
    expect(explainClusterError(outcome.error, settings)).toContain("not valid for TLS server authentication");
    // The CP said so at start-up already.
    expect(log.join("")).toContain("[warn]");
    expect(log.join("")).toContain("cluster_cert has no extended key usage serverAuth");
  });

  test("a CP certificate from a CA other than cluster_ca_cert is refused", async () => {
    const l = await cpWith({ name: "cp-foreign", sans: ["cp.example"], foreign: true });
    const settings = input(l, "cp.example");
    const outcome = await dial(l.port, clusterClientTls(settings));
    expect(outcome.message).toBeNull();
    expect(explainClusterError(outcome.error, settings)).toStartWith(
      "the control plane certificate is not signed by this data plane's cluster_ca_cert",
    );
  });

  test("when the CP refuses the DP certificate, the DP's reason points at its certificate and the CP log", async () => {
    const l = await cpWith({ name: "cp-strict", sans: ["cp.example"] });
    const expired = await pki.leaf({
      name: "dp-expired",
      cn: "dp1",
      eku: ["clientAuth"],
      notBefore: new Date(Date.now() - 3 * 86_400_000),
      notAfter: new Date(Date.now() - 86_400_000),
    });
    const settings = {
      ...input(l, "cp.example"),
      cluster_cert: expired.chainPath,
      cluster_cert_key: expired.keyPath,
    };
    const outcome = await dial(l.port, clusterClientTls(settings));
    expect(outcome.message).toBeNull();
    expect(explainClusterError(outcome.error, settings)).toStartWith(
      "the control plane closed the connection during the handshake, most likely because it refused this data plane's certificate (its log says why): the certificate must chain to the control plane's cluster_ca_cert",
    );
    expect(log.join("")).toContain("data plane client certificate has expired");
  });
});

describe("shared mode: the DP pins the one cluster certificate", () => {
  let cluster: ClusterCert;
  let listener: ClusterListener;
  beforeAll(async () => {
    cluster = await generateClusterCert();
    listener = await echoPeerListener({ certPem: cluster.certPem, keyPem: cluster.keyPem, mode: "shared" });
  });
  afterAll(() => listener.stop());

  test("a CP with another cluster certificate is refused by the DP", async () => {
    const mine = await generateClusterCert();
    const settings: ClusterClientInput = {
      cluster_mtls: "shared",
      cluster_cert: mine.certPem,
      cluster_cert_key: mine.keyPem,
      cluster_control_plane: `127.0.0.1:${listener.port}`,
    };
    const outcome = await dial(listener.port, clusterClientTls(settings));
    expect(outcome.message).toBeNull();
    expect(explainClusterError(outcome.error, settings)).toStartWith(
      "the control plane presented a certificate other than this data plane's cluster_cert: cluster_mtls = shared needs the same cluster_cert and cluster_cert_key on every node",
    );
  });
});

describe("SNI the DP sends", () => {
  let cluster: ClusterCert;
  beforeAll(async () => {
    cluster = await generateClusterCert();
  });

  /** A bare TLS server that records the SNI of the one connection it gets. */
  async function sniOf(tls: object): Promise<string | false | null> {
    const server = createServer({ cert: cluster.certPem, key: cluster.keyPem });
    const seen = new Promise<string | false | null>((resolve) =>
      server.once("secureConnection", (socket) => {
        resolve(socket.servername);
        socket.destroy();
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    const closed = dial(port, tls);
    const name = await seen;
    await closed;
    await new Promise((resolve) => server.close(resolve));
    return name;
  }

  test("shared mode sends kong_clustering", async () => {
    const tls = clusterClientTls({
      cluster_mtls: "shared",
      cluster_cert: cluster.certPem,
      cluster_cert_key: cluster.keyPem,
      cluster_control_plane: "127.0.0.1:8005",
    });
    expect(await sniOf(tls)).toBe("kong_clustering");
  });

  test("pki mode sends cluster_server_name, else the host of cluster_control_plane", async () => {
    const base: ClusterClientInput = {
      cluster_mtls: "pki",
      cluster_cert: dp.chainPath,
      cluster_cert_key: dp.keyPath,
      // Trusting the shared cert lets the handshake finish against this bare server.
      cluster_ca_cert: cluster.certPem,
      cluster_control_plane: "cp.internal:8005",
    };
    const trustAnyName = { checkServerIdentity: () => undefined };
    expect(
      await sniOf({ ...clusterClientTls({ ...base, cluster_server_name: "cp.example" }), ...trustAnyName }),
    ).toBe("cp.example");
    expect(await sniOf({ ...clusterClientTls(base), ...trustAnyName })).toBe("cp.internal");
  });
});

describe("settings and reasons", () => {
  test("certificate settings take a path, PEM text or base64 PEM; a bad one names the field", () => {
    const pem = dp.certPem;
    expect(pemOrThrow(dp.certPath, "certificate", "cluster_cert")).toBe(pem);
    expect(pemOrThrow(pem, "certificate", "cluster_cert")).toBe(pem);
    expect(pemOrThrow(Buffer.from(pem).toString("base64"), "certificate", "cluster_cert")).toBe(pem);
    expect(() => pemOrThrow("/nonexistent/cluster.crt", "certificate", "cluster_cert")).toThrow(
      "cluster_cert: no such file at /nonexistent/cluster.crt",
    );
    const notPem = join(pki.dir, "not-pem.txt");
    writeFileSync(notPem, "hello");
    expect(() => pemOrThrow(notPem, "certificate", "cluster_ca_cert")).toThrow(
      "cluster_ca_cert: failed loading certificate",
    );
    expect(() => pemOrThrow("", "key", "cluster_cert_key")).toThrow("cluster_cert_key: required");
  });

  test("pki mode without cluster_ca_cert names the field", () => {
    expect(() =>
      clusterClientTls({
        cluster_mtls: "pki",
        cluster_cert: dp.chainPath,
        cluster_cert_key: dp.keyPath,
        cluster_control_plane: "cp:8005",
      }),
    ).toThrow("cluster_ca_cert: required");
  });

  test("the host of cluster_control_plane", () => {
    expect(controlPlaneHost("cp.example:8005")).toBe("cp.example");
    expect(controlPlaneHost("10.0.0.1:8005")).toBe("10.0.0.1");
    expect(controlPlaneHost("[::1]:8005")).toBe("::1");
    expect(controlPlaneHost("cp.example")).toBe("cp.example");
  });

  test("a CP that is not listening is reported as such", async () => {
    const port = freePort();
    const settings: ClusterClientInput = {
      cluster_mtls: "pki",
      cluster_cert: dp.chainPath,
      cluster_cert_key: dp.keyPath,
      cluster_ca_cert: pki.root.certPath,
      cluster_control_plane: `127.0.0.1:${port}`,
    };
    const outcome = await dial(port, clusterClientTls(settings));
    expect(explainClusterError(outcome.error, settings)).toStartWith(
      `cannot connect to cluster_control_plane = 127.0.0.1:${port} (nothing listening`,
    );
  });

  test("a message nothing explains is passed through unchanged", () => {
    const settings: ClusterClientInput = {
      cluster_mtls: "shared",
      cluster_cert: "x",
      cluster_cert_key: "y",
      cluster_control_plane: "cp:8005",
    };
    expect(explainClusterError("something odd", settings)).toBe("something odd");
  });
});
