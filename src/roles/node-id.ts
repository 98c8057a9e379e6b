/** The node's id: a UUID kept in `<prefix>/kong.id` (as Kong does), so a restarted data plane is the same node to its CP. */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../support/files";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function nodeId(prefix: string): string {
  const path = join(prefix, "kong.id");
  if (existsSync(path)) {
    const id = readFileSync(path, "utf8").trim();
    if (UUID.test(id)) return id;
  }
  mkdirSync(prefix, { recursive: true, mode: 0o700 });
  const id = crypto.randomUUID();
  writeFileAtomic(path, `${id}\n`, 0o600);
  return id;
}
