import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type ClusterCert, certInfo, generateClusterCert } from "../../../src/cluster/tls/certs";
import { type ClusterClientInput, clusterClientTls } from "../../../src/cluster/tls/client";
import {
  type ClusterListener,
  type ClusterOcspMode,
  type PeerInfo,
  startClusterListener,
} from "../../../src/cluster/tls/listener";
import { freePort } from "../../helpers/gw";
import { startOcspResponder } from "../../helpers/ocsp-responder";
import { createTestPki, type Issued, type TestPki } from "../../helpers/pki";
import { captureLog, dial, echoPeerListener } from "./dial";

const log = captureLog();
const DAY_MS = 86_400_000;

function opensslDigest(pem: string): string {
  const der = Bun.spawnSync(["openssl", "x509", "-outform", "DER"], { stdin: Buffer.from(pem) }).stdout;
  return new Bun.CryptoHasher("sha256").update(der).digest("hex");
}

const peerOf = (message: string | null) => (message ? (JSON.parse(message) as PeerInfo) : null);
const logText = () => log.join("");

describe("shared mode", () => {
  let cluster: ClusterCert;
  let listener: ClusterListener;
  beforeAll(async () => {
    cluster = await generateClusterCert();
    // OCSP is never consulted in shared mode (Kong's if/elseif): "on" with no responder must not matter.
    listener = await echoPeerListener({
      certPem: cluster.certPem,
      keyPem: cluster.keyPem,
      mode: "shared",
      ocsp: "on",
    });
  });
  afterAll(() => listener.stop());

  const dpInput = (c: ClusterCert): ClusterClientInput => ({
    cluster_mtls: "shared",
    cluster_cert: c.certPem,
    cluster_cert_key: c.keyPem,
    cluster_control_plane: `127.0.0.1:${listener.port}`,
  });

  test("a DP with the same cluster_cert is accepted and the inner handler sees its certificate", async () => {
    const outcome = await dial(listener.port, clusterClientTls(dpInput(cluster)));
    expect(outcome.error).toBe("");
    const peer = peerOf(outcome.message)!;
    expect(peer.commonName).toBe("kong_clustering");
    expect(peer.digest).toBe(opensslDigest(cluster.certPem));
    expect(peer.notAfter).toBe(certInfo(cluster.certPem).notAfter);
    expect(peer.ip).toBe("127.0.0.1");
    expect(logText()).not.toContain("[error]");
  });

  test("a DP with another self-signed kong_clustering cert is refused with Kong's message", async () => {
    const other = await generateClusterCert();
    // This DP trusts the CP, so the refusal can only come from the CP's digest check.
    const outcome = await dial(listener.port, {
      cert: other.certPem,
      key: other.keyPem,
      ca: cluster.certPem,
      serverName: "kong_clustering",
    });
    expect(outcome.message).toBeNull();
    expect(logText()).toContain("[error] ");
    expect(logText()).toContain(
      "data plane presented incorrect client certificate during handshake (digest does not match the control plane certificate), client: 127.0.0.1; fix: give the data plane the control plane's cluster_cert and cluster_cert_key",
    );
  });

  test("a DP without a client certificate is refused with Kong's message", async () => {
    const outcome = await dial(listener.port, { ca: cluster.certPem, serverName: "kong_clustering" });
    expect(outcome.message).toBeNull();
    expect(logText()).toContain(
      "data plane failed to present client certificate during handshake, client: 127.0.0.1; fix: set cluster_cert and cluster_cert_key on the data plane",
    );
  });
});

describe("pki mode", () => {
  let pki: TestPki;
  let cp: Issued;
  let ocspPort: number;
  const listeners: ClusterListener[] = [];

  beforeAll(async () => {
    pki = await createTestPki({ intermediates: 2 });
    ocspPort = freePort();
    cp = await pki.leaf({
      name: "cp",
      cn: "cp.example",
      sans: ["cp.example"],
      eku: ["serverAuth"],
      issuer: pki.root,
    });
  });
  afterAll(async () => {
    for (const l of listeners) await l.stop();
  });

  async function listen(
    extra: { allowedCommonNames?: string[]; ocsp?: ClusterOcspMode; caPem?: string } = {},
  ) {
    const l = await echoPeerListener({
      certPem: cp.chainPem,
      keyPem: cp.keyPem,
      mode: "pki",
      caPem: extra.caPem ?? pki.root.certPem,
      ...extra,
    });
    listeners.push(l);
    return l;
  }

  /** Dials as a DP configured with `dp`'s chain file, trusting the root, SNI cp.example. */
  const dialAs = (l: ClusterListener, dp: Issued, certPath = dp.chainPath, ca = pki.root.certPath) =>
    dial(
      l.port,
      clusterClientTls({
        cluster_mtls: "pki",
        cluster_cert: certPath,
        cluster_cert_key: dp.keyPath,
        cluster_ca_cert: ca,
        cluster_server_name: "cp.example",
        cluster_control_plane: `127.0.0.1:${l.port}`,
      }),
    );

  test("a DP certificate under two intermediates is accepted; the inner handler sees its CN, SANs and digest", async () => {
    const l = await listen();
    const dp = await pki.leaf({ name: "dp1", cn: "dp1", sans: ["dp1.internal"], eku: ["clientAuth"] });
    const outcome = await dialAs(l, dp);
    expect(outcome.error).toBe("");
    const peer = peerOf(outcome.message)!;
    expect(peer.commonName).toBe("dp1");
    expect(peer.sans).toEqual(["dp1.internal"]);
    expect(peer.digest).toBe(opensslDigest(dp.certPem));
    expect(peer.notAfter).toBe(dp.cert.notAfter.getTime() / 1000);
  });

  test("a DP certificate from another CA is refused", async () => {
    const l = await listen();
    const dp = await pki.leaf({ name: "dp-foreign", cn: "dp1", eku: ["clientAuth"], issuer: pki.otherCa });
    expect((await dialAs(l, dp)).message).toBeNull();
    expect(logText()).toContain("data plane client certificate does not verify against cluster_ca_cert");
    expect(logText()).toContain("fix: issue the data plane certificate from the CA in cluster_ca_cert");
  });

  test("a DP that sends its leaf without the intermediates is refused, and told to add them", async () => {
    const l = await listen();
    const dp = await pki.leaf({ name: "dp-bare", cn: "dp1", eku: ["clientAuth"] });
    expect((await dialAs(l, dp, dp.certPath)).message).toBeNull();
    expect(logText()).toContain(
      "put the intermediate CAs after the leaf in the data plane's cluster_cert file",
    );
  });

  test("a DP certificate without EKU clientAuth is refused, with or without an EKU extension", async () => {
    const l = await listen();
    const serverOnly = await pki.leaf({ name: "dp-server-eku", cn: "dp1", eku: ["serverAuth"] });
    expect((await dialAs(l, serverOnly)).message).toBeNull();
    const noEku = await pki.leaf({ name: "dp-no-eku", cn: "dp1" });
    expect((await dialAs(l, noEku)).message).toBeNull();
    expect(logText().match(/extended key usage clientAuth is missing/g)?.length).toBe(2);
  });

  test("an expired DP certificate is refused, naming its expiry", async () => {
    const l = await listen();
    const notAfter = new Date(Math.floor((Date.now() - DAY_MS) / 1000) * 1000);
    const dp = await pki.leaf({
      name: "dp-expired",
      cn: "dp1",
      eku: ["clientAuth"],
      notBefore: new Date(Date.now() - 10 * DAY_MS),
      notAfter,
    });
    expect((await dialAs(l, dp)).message).toBeNull();
    expect(logText()).toContain(
      `data plane client certificate has expired (notAfter ${notAfter.toISOString()})`,
    );
  });

  test("cluster_allowed_common_names admits listed CNs only", async () => {
    const l = await listen({ allowedCommonNames: ["dp-a", "dp-b"] });
    const listed = await pki.leaf({ name: "dp-a", cn: "dp-a", eku: ["clientAuth"] });
    const unlisted = await pki.leaf({ name: "dp-z", cn: "dp-z", eku: ["clientAuth"] });
    expect(peerOf((await dialAs(l, listed)).message)?.commonName).toBe("dp-a");
    expect((await dialAs(l, unlisted)).message).toBeNull();
    expect(logText()).toContain(
      "data plane presented client certificate with CN 'dp-z', which is not in cluster_allowed_common_names",
    );
  });

  test("verify depth 4: four intermediates are accepted, five are refused", async () => {
    const deep = await createTestPki({ intermediates: 5 });
    const l = await listen({ caPem: deep.root.certPem });
    const four = await deep.leaf({
      name: "dp-4",
      cn: "dp4",
      eku: ["clientAuth"],
      issuer: deep.intermediates[3],
    });
    const five = await deep.leaf({ name: "dp-5", cn: "dp5", eku: ["clientAuth"] });
    expect(peerOf((await dialAs(l, four)).message)?.commonName).toBe("dp4");
    expect((await dialAs(l, five)).message).toBeNull();
    expect(logText()).toContain("chain is longer than the verify depth (at most 4 intermediate CAs)");
  });

  describe("cluster_ocsp against a real openssl ocsp responder", () => {
    let good: Issued;
    let revoked: Issued;
    let unlisted: Issued;
    let index: string;
    beforeAll(async () => {
      const ocspUrl = `http://127.0.0.1:${ocspPort}`;
      good = await pki.leaf({ name: "dp-ocsp-good", cn: "dp-good", eku: ["clientAuth"], ocspUrl });
      revoked = await pki.leaf({ name: "dp-ocsp-revoked", cn: "dp-revoked", eku: ["clientAuth"], ocspUrl });
      unlisted = await pki.leaf({
        name: "dp-ocsp-unlisted",
        cn: "dp-unlisted",
        eku: ["clientAuth"],
        ocspUrl,
      });
      index = pki.ocspIndex("ocsp", [good], [revoked]);
    });

    const withResponder = async (body: () => Promise<void>) => {
      const signer = await pki.leaf({ name: "ocsp-signer", cn: "OCSP signer", eku: ["ocspSigning"] });
      const responder = await startOcspResponder({
        port: ocspPort,
        indexPath: index,
        caPath: pki.issuing.certPath,
        signerCertPath: signer.certPath,
        signerKeyPath: signer.keyPath,
      });
      try {
        await body();
        expect(responder.requests()).toBeGreaterThan(0);
      } finally {
        await responder.stop();
      }
    };

    for (const mode of ["on", "optional"] as const) {
      test(`cluster_ocsp = ${mode}: good is accepted, revoked and unknown are refused`, async () => {
        const l = await listen({ ocsp: mode });
        await withResponder(async () => {
          expect(peerOf((await dialAs(l, good)).message)?.commonName).toBe("dp-good");
          expect((await dialAs(l, revoked)).message).toBeNull();
          // Kong refuses any answer that is not "good", in both modes.
          expect((await dialAs(l, unlisted)).message).toBeNull();
        });
        expect(logText()).toContain("data plane client certificate was revoked: certificate revoked at");
        expect(logText()).toContain(
          "data plane client certificate revocation status is not confirmed: the OCSP responder does not know this certificate",
        );
      });
    }

    test("cluster_ocsp = on: responder down refuses the DP", async () => {
      const l = await listen({ ocsp: "on" });
      expect((await dialAs(l, good)).message).toBeNull();
      expect(logText()).toContain(
        `[error] ${process.pid}#0: [clustering] data plane client certificate revocation check failed: failed to send request to OCSP responder http://127.0.0.1:${ocspPort}`,
      );
      expect(logText()).toContain("or set cluster_ocsp = optional");
    });

    test("cluster_ocsp = optional: responder down lets the DP in with a warning", async () => {
      const l = await listen({ ocsp: "optional" });
      expect(peerOf((await dialAs(l, good)).message)?.commonName).toBe("dp-good");
      expect(logText()).toContain("[warn]");
      expect(logText()).toContain("data plane client certificate revocation check failed");
      expect(logText()).toContain("cluster_ocsp = optional: accepting data plane 127.0.0.1");
    });

    test("cluster_ocsp = off: no responder is asked", async () => {
      const l = await listen({ ocsp: "off" });
      expect(peerOf((await dialAs(l, revoked)).message)?.commonName).toBe("dp-revoked");
    });
  });

  test("pki mode without cluster_ca_cert is a configuration error naming the field", async () => {
    await expect(echoPeerListener({ certPem: cp.chainPem, keyPem: cp.keyPem, mode: "pki" })).rejects.toThrow(
      "cluster_ca_cert: required when cluster_mtls = pki",
    );
  });
});

describe("listener lifecycle", () => {
  test("a 16 MiB frame (cluster_max_payload's default) crosses the TLS front intact both ways", async () => {
    const cluster = await generateClusterCert();
    const payload = new Uint8Array(16 * 1024 * 1024 - 1024).map((_, i) => (i * 7) % 251);
    const received: number[] = [];
    const l = await startClusterListener<null>({
      host: "127.0.0.1",
      port: 0,
      certPem: cluster.certPem,
      keyPem: cluster.keyPem,
      mode: "shared",
      fetch: (req, server) =>
        server.upgrade(req, { data: null }) ? undefined : new Response(null, { status: 400 }),
      websocket: {
        maxPayloadLength: 32 * 1024 * 1024,
        open: (ws) => {
          ws.send(payload);
        },
        message: (ws, data) => {
          received.push(Bun.hash(data as Uint8Array) === Bun.hash(payload) ? data.length : -1);
          ws.close();
        },
      },
    });
    try {
      const tls = clusterClientTls({
        cluster_mtls: "shared",
        cluster_cert: cluster.certPem,
        cluster_cert_key: cluster.keyPem,
        cluster_control_plane: `127.0.0.1:${l.port}`,
      });
      const ws = new WebSocket(`wss://127.0.0.1:${l.port}/v1/outlet`, { tls } as unknown as string[]);
      ws.binaryType = "arraybuffer";
      const first = await new Promise<Uint8Array>((resolve) =>
        ws.addEventListener("message", (ev) => resolve(new Uint8Array(ev.data as ArrayBuffer)), {
          once: true,
        }),
      );
      expect(first.length).toBe(payload.length);
      expect(Bun.hash(first)).toBe(Bun.hash(payload));
      const closed = new Promise((resolve) => ws.addEventListener("close", resolve, { once: true }));
      ws.send(first);
      await closed;
      expect(received).toEqual([payload.length]);
    } finally {
      await l.stop();
    }
  }, 60_000);

  test("the inner server turns away anyone who dials it directly, bypassing mTLS", async () => {
    const cluster = await generateClusterCert();
    let innerPort = 0;
    const l = await startClusterListener<null>({
      host: "127.0.0.1",
      port: 0,
      certPem: cluster.certPem,
      keyPem: cluster.keyPem,
      mode: "shared",
      fetch: (_req, server) => {
        innerPort = server.port!;
        return new Response("hello DP");
      },
      websocket: { message() {} },
    });
    try {
      const tls = clusterClientTls({
        cluster_mtls: "shared",
        cluster_cert: cluster.certPem,
        cluster_cert_key: cluster.keyPem,
        cluster_control_plane: `127.0.0.1:${l.port}`,
      });
      const viaFront = await fetch(`https://127.0.0.1:${l.port}/`, { tls });
      expect(await viaFront.text()).toBe("hello DP");
      const direct = await fetch(`http://127.0.0.1:${innerPort}/v1/outlet?node_id=x`);
      expect(direct.status).toBe(403);
    } finally {
      await l.stop();
    }
  });

  test("a port already in use is an error naming cluster_listen", async () => {
    const cluster = await generateClusterCert();
    const first = await echoPeerListener({
      certPem: cluster.certPem,
      keyPem: cluster.keyPem,
      mode: "shared",
    });
    try {
      await expect(
        startClusterListener({
          host: "127.0.0.1",
          port: first.port,
          certPem: cluster.certPem,
          keyPem: cluster.keyPem,
          mode: "shared",
          fetch: () => new Response(null),
          websocket: { message() {} },
        }),
      ).rejects.toThrow(`cluster_listen: cannot listen on 127.0.0.1:${first.port}`);
    } finally {
      await first.stop();
    }
  });

  test("stop() ends live DP links and frees the port", async () => {
    const cluster = await generateClusterCert();
    const l = await echoPeerListener({ certPem: cluster.certPem, keyPem: cluster.keyPem, mode: "shared" });
    const tls = clusterClientTls({
      cluster_mtls: "shared",
      cluster_cert: cluster.certPem,
      cluster_cert_key: cluster.keyPem,
      cluster_control_plane: `127.0.0.1:${l.port}`,
    });
    const ws = new WebSocket(`wss://127.0.0.1:${l.port}/v1/outlet`, { tls } as unknown as string[]);
    await new Promise((resolve) => ws.addEventListener("message", resolve, { once: true }));
    const closed = new Promise((resolve) => ws.addEventListener("close", resolve, { once: true }));
    await l.stop();
    await closed;
    expect(ws.readyState).toBe(WebSocket.CLOSED);
    const again = Bun.listen({ hostname: "127.0.0.1", port: l.port, socket: { data() {} } });
    again.stop(true);
  });
});
