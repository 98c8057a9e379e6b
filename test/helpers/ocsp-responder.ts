/** A real `openssl ocsp` responder on loopback: Bun serves HTTP on 127.0.0.1, openssl answers each request from its index file. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface OcspResponderOptions {
  /** `openssl ca`-style index: `V`/`R` lines for the serials the responder knows. Re-read on every request. */
  indexPath: string;
  /** The CA whose certificates the index lists. */
  caPath: string;
  /** The certificate and key that sign responses: the CA itself or a delegated OCSP signer. */
  signerCertPath: string;
  signerKeyPath: string;
  /** 0 picks a free port. */
  port?: number;
}

export interface OcspResponder {
  url: string;
  port: number;
  /** How many requests reached openssl so far. */
  requests(): number;
  stop(): Promise<void>;
}

/**
 * openssl 3.0's `ocsp -port` takes a bare port and binds every interface; tests stay on loopback, so the HTTP
 * side is ours and the OCSP side (index lookup, status, signing) is openssl's `-reqin`/`-respout` mode.
 */
export async function startOcspResponder(opts: OcspResponderOptions): Promise<OcspResponder> {
  const work = mkdtempSync(join(tmpdir(), "gw-ocsp-"));
  let count = 0;
  const answer = async (request: Uint8Array): Promise<Response> => {
    const n = ++count;
    const reqPath = join(work, `req-${n}.der`);
    const respPath = join(work, `resp-${n}.der`);
    await Bun.write(reqPath, request);
    const proc = Bun.spawn(
      [
        "openssl",
        "ocsp",
        "-index",
        opts.indexPath,
        "-CA",
        opts.caPath,
        "-rsigner",
        opts.signerCertPath,
        "-rkey",
        opts.signerKeyPath,
        "-reqin",
        reqPath,
        "-respout",
        respPath,
      ],
      { stdout: "ignore", stderr: "pipe" },
    );
    if ((await proc.exited) !== 0) {
      return new Response(`openssl ocsp failed: ${await new Response(proc.stderr).text()}`, { status: 500 });
    }
    return new Response(Bun.file(respPath), { headers: { "content-type": "application/ocsp-response" } });
  };
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: opts.port ?? 0,
    async fetch(req) {
      if (req.method !== "POST") return new Response("POST an OCSP request\n", { status: 405 });
      return answer(new Uint8Array(await req.arrayBuffer()));
    },
  });
  const url = `http://127.0.0.1:${server.port}`;
  const probe = await fetch(url);
  if (probe.status !== 405) throw new Error(`OCSP responder at ${url} did not answer`);
  return {
    url,
    port: server.port!,
    requests: () => count,
    async stop() {
      await server.stop(true);
      rmSync(work, { recursive: true, force: true });
    },
  };
}
