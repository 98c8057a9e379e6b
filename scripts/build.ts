/** Builds dist/gw, the single executable (bytecode halves start-up of a bundle this size; see docs/ARCHITECTURE.md). */
import { mkdirSync } from "node:fs";

mkdirSync("dist", { recursive: true });
const result = await Bun.build({
  // The config validation worker is loaded by URL at run time, so it must be bundled as an entrypoint of its own.
  entrypoints: ["src/cli/main.ts", "src/config/validate-worker.ts"],
  compile: { outfile: "dist/gw" },
  bytecode: true,
  format: "esm",
  minify: true,
  sourcemap: "linked",
  target: "bun",
});
if (!result.success) {
  for (const log of result.logs) console.error(log);
  process.exit(1);
}
console.log("built dist/gw");
