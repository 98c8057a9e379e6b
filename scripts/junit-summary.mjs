// Prints "N passed, N failed[, N skipped]" from a JUnit XML report (CI reads this line, not bun's own summary).
import { readFileSync } from "node:fs";

const xml = readFileSync(process.argv[2], "utf8");
const cases = xml.match(/<testcase\b[^>]*?(\/>|>[\s\S]*?<\/testcase>)/g) ?? [];
let failed = 0;
let skipped = 0;
for (const c of cases) {
  if (/<(failure|error)\b/.test(c)) failed++;
  else if (/<skipped\b/.test(c)) skipped++;
}
const passed = cases.length - failed - skipped;
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
