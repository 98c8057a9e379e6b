/** Starts control planes and data planes of the compiled binary sharing one cluster certificate, for hybrid tests. */
import { join } from "node:path";
import { type GwOptions, type GwProcess, runGw, startGw, tempDir, waitFor } from "./gw";

export interface SharedCert {
  cert: string;
  key: string;
}

/** `gw hybrid gen_cert` into a fresh directory: the shared-mode pair every node of a test cluster uses. */
export async function genSharedCert(): Promise<SharedCert> {
  const dir = tempDir("cluster-cert");
  const cert = join(dir, "cluster.crt");
  const key = join(dir, "cluster.key");
  const r = await runGw(["hybrid", "gen_cert", cert, key]);
  if (r.code !== 0) throw new Error(`gen_cert failed: ${r.output}`);
  return { cert, key };
}

export const certArgs = (c: SharedCert) => ["--cluster_cert", c.cert, "--cluster_cert_key", c.key];

export async function startControlPlane(c: SharedCert, opts: GwOptions = {}): Promise<GwProcess> {
  return await startGw({ ...opts, args: ["--role", "control_plane", ...certArgs(c), ...(opts.args ?? [])] });
}

export async function startDataPlane(
  c: SharedCert,
  cp: GwProcess | number,
  opts: GwOptions = {},
): Promise<GwProcess> {
  const port = typeof cp === "number" ? cp : cp.cluster;
  return await startGw({
    ...opts,
    args: [
      "--role",
      "data_plane",
      "--database",
      "off",
      "--cluster_control_plane",
      `127.0.0.1:${port}`,
      ...certArgs(c),
      ...(opts.args ?? []),
    ],
  });
}

export async function admin(cp: GwProcess, method: string, path: string, body?: unknown) {
  const res = await fetch(`${cp.admin}${path}`, {
    method,
    headers: body ? { "content-type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** Waits until `path` on the node's proxy answers `status`. */
export async function untilServed(
  node: GwProcess,
  path: string,
  status = 200,
  timeoutMs = 15_000,
): Promise<Response> {
  return await waitFor(
    `${node.proxy}${path} → ${status}`,
    async () => {
      const res = await fetch(`${node.proxy}${path}`);
      return res.status === status ? res : undefined;
    },
    timeoutMs,
  );
}

export async function configHashOf(node: GwProcess): Promise<string> {
  const status = (await (await fetch(`${node.status}/status`)).json()) as { configuration_hash: string };
  return status.configuration_hash;
}
