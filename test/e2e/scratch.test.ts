/** The container image's file tree (the Dockerfile's FROM scratch stage) runs gw: checked in a chroot by scripts/scratch-check. */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { requireBinary } from "../helpers/gw";

test.skipIf(process.getuid?.() !== 0)(
  "dist/gw proxies a request from a scratch-like root: itself plus glibc",
  async () => {
    requireBinary();
    const proc = Bun.spawn(["bash", join(import.meta.dir, "../../scripts/scratch-check")], {
      stdout: "pipe",
      stderr: "pipe",
    });
    const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    expect(out).toContain("scratch-check: OK");
    expect(code).toBe(0);
  },
);
