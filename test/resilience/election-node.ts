/** One election participant in its own process, so a test can SIGKILL it (a crash leaves its registration behind). */
import { Election } from "../../src/resilience/election";
import { openStorage } from "../../src/resilience/storage/types";

const [url, version, nodeId, interval, margin] = process.argv.slice(2);
const location = url!;
const storage = await openStorage(location, process.env);
const election = new Election({
  storage,
  prefix: storage.location.prefix,
  version: version!,
  nodeId: nodeId!,
  intervalMs: Number(interval),
  marginMs: Number(margin),
  onChange: (leader) => process.stdout.write(`leader ${leader}\n`),
});
election.start();
// The test holds our stdin open; if it dies before it kills us, we go too.
process.stdin.on("close", () => process.exit(0)).resume();
