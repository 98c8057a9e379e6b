import { afterAll, afterEach, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import { setLogSink } from "../../src/log/logger";
import { Election } from "../../src/resilience/election";
import { type ConfigStorage, openStorage } from "../../src/resilience/storage/types";
import { electionPrefix } from "../../src/resilience/storage/url";
import { startGcsEmulator } from "../helpers/gcs-emulator";
import { waitFor } from "../helpers/gw";
import { type RunningS3rver, startS3rver } from "../helpers/s3rver";

// Real servers on a shared machine: calls can take seconds under load (bunfig's timeout is not applied per test).
setDefaultTimeout(60_000);

const BUCKET = "gw-election";
const VERSION = "3.10.0";
const INTERVAL = 300;
/** The margin must exceed a round's duration; s3rver on a busy test machine sometimes takes hundreds of ms per call. */
const MARGIN = 1000;

let s3: RunningS3rver;
let running: Election[] = [];

beforeAll(async () => {
  s3 = await startS3rver({ buckets: [BUCKET] });
});
afterEach(async () => {
  await Promise.all(running.map((node) => node.stop()));
  running = [];
});
afterAll(async () => {
  await s3?.stop();
});

let prefixes = 0;
/** Each test elects in its own prefix so leftovers from one cannot sway another. */
async function cluster(env = s3.env, scheme = "s3") {
  const prefix = `t${++prefixes}`;
  const storage = await openStorage(`${scheme}://${BUCKET}/${prefix}`, env);
  const changes = new Map<string, boolean[]>();
  const node = (nodeId: string) => {
    changes.set(nodeId, []);
    const election = new Election({
      storage,
      prefix,
      version: VERSION,
      nodeId,
      intervalMs: INTERVAL,
      marginMs: MARGIN,
      onChange: (leader) => changes.get(nodeId)!.push(leader),
    });
    running.push(election);
    election.start();
    return election;
  };
  return { prefix, storage, node, changes };
}

const leaders = (nodes: Election[]) => nodes.filter((node) => node.isLeader());

const oneLeader = (nodes: Election[], what = "exactly one leader") =>
  waitFor(what, () => (leaders(nodes).length === 1 ? leaders(nodes)[0] : undefined));

async function registrations(storage: ConfigStorage, prefix: string) {
  return (await storage.list(electionPrefix(prefix, VERSION))).map((o) => o.key.split("/").pop()).sort();
}

describe("election on s3rver", () => {
  test("three nodes elect exactly one leader, and all agree which", async () => {
    const { node, storage, prefix } = await cluster();
    const ids = ["node-b", "node-a", "node-c"];
    const nodes = ids.map(node);
    const leader = await oneLeader(nodes);
    const leaderId = ids[nodes.indexOf(leader)];
    await waitFor("every node to know the leader", () => nodes.every((n) => n.leaderId() === leaderId));
    // Never two leaders over several rounds (a leader whose refresh is slow may briefly claim none).
    for (let i = 0; i < 8; i++) {
      expect(leaders(nodes).length).toBeLessThanOrEqual(1);
      await Bun.sleep(INTERVAL / 2);
    }
    expect(await oneLeader(nodes)).toBe(leader);
    expect(await registrations(storage, prefix)).toEqual(["node-a", "node-b", "node-c"]);
  });

  test("the earliest-registered node leads; later nodes follow it", async () => {
    const { node, changes } = await cluster();
    const first = node("zz-first");
    await waitFor("the first node to lead", () => first.isLeader());
    const later = [node("aa-later"), node("bb-later")];
    await waitFor("the later nodes to see the leader", () => later.every((n) => n.leaderId() === "zz-first"));
    expect(first.isLeader()).toBe(true);
    expect(leaders(later)).toEqual([]);
    expect(changes.get("aa-later")).toEqual([]);
  });

  test("stopping the leader hands over to another node and removes its registration", async () => {
    const { node, storage, prefix, changes } = await cluster();
    const ids = ["n1", "n2", "n3"];
    const nodes = ids.map(node);
    const leader = await oneLeader(nodes);
    const leaderId = ids[nodes.indexOf(leader)]!;
    await leader.stop();
    expect(leader.isLeader()).toBe(false);
    expect(changes.get(leaderId)).toEqual([true, false]);
    const rest = nodes.filter((n) => n !== leader);
    const next = await oneLeader(rest, "another node to take over");
    expect(next).not.toBe(leader);
    expect(await registrations(storage, prefix)).toEqual(ids.filter((id) => id !== leaderId));
  });

  test("a crashed leader (killed, registration left behind) is replaced once its registration goes stale", async () => {
    const { prefix, node, storage } = await cluster();
    const child = Bun.spawn(
      [
        process.execPath,
        join(import.meta.dir, "election-node.ts"),
        `s3://${BUCKET}/${prefix}`,
        VERSION,
        "crashing-node",
        String(INTERVAL),
        String(MARGIN),
      ],
      { env: { ...process.env, ...s3.env }, stdin: "pipe", stdout: "pipe", stderr: "pipe" },
    );
    try {
      const reader = child.stdout.getReader();
      const first = new TextDecoder().decode((await reader.read()).value);
      expect(first).toBe("leader true\n");
      const others = [node("survivor-1"), node("survivor-2")];
      await waitFor("the others to follow the child", () =>
        others.every((n) => n.leaderId() === "crashing-node"),
      );
      expect(leaders(others)).toEqual([]);
      child.kill("SIGKILL");
      await child.exited;
      await oneLeader(others, "a survivor to take over");
      expect(await registrations(storage, prefix)).toContain("crashing-node");
    } finally {
      child.kill("SIGKILL");
    }
  });

  test("a long-dead registration neither leads nor stays: the leader removes it", async () => {
    const { node, storage, prefix } = await cluster();
    const longAgo = new Date(Date.now() - 3_600_000).toISOString();
    const ghost = { node_id: "ghost", registered_at: longAgo, refreshed_at: longAgo };
    await storage.put(`${electionPrefix(prefix, VERSION)}ghost`, JSON.stringify(ghost), {});
    await storage.put(`${electionPrefix(prefix, VERSION)}garbage`, "not json", {});
    const nodes = ["live-1", "live-2"].map(node);
    await oneLeader(nodes);
    await waitFor(
      "the ghost to be removed",
      async () => !(await registrations(storage, prefix)).includes("ghost"),
    );
    expect(nodes.every((n) => n.leaderId() !== "ghost")).toBe(true);
  });

  test("when storage goes down nobody claims leadership, nothing crashes, and it recovers", async () => {
    const own = await startS3rver({ buckets: [BUCKET] });
    const lines: string[] = [];
    setLogSink((line) => lines.push(line));
    try {
      const { node, changes } = await cluster(own.env);
      const ids = ["d1", "d2", "d3"];
      const nodes = ids.map(node);
      const leader = await oneLeader(nodes);
      const leaderId = ids[nodes.indexOf(leader)]!;
      await own.stop();
      await waitFor("every node to give up leadership", () => leaders(nodes).length === 0);
      await waitFor("the old leader to be told", () => changes.get(leaderId)!.at(-1) === false);
      await Bun.sleep(INTERVAL * 3);
      expect(leaders(nodes)).toEqual([]);
      // One warning per node for the outage, not one per round.
      expect(
        lines.filter((l) => l.includes("[warn]") && l.includes("election round failed, not leading")),
      ).toHaveLength(3);
      expect(lines.some((l) => l.includes("S3RVER"))).toBe(false);

      const back = await startS3rver({ buckets: [BUCKET], port: own.port, directory: own.directory });
      try {
        await oneLeader(nodes, "a leader once storage is back");
        expect(lines.some((l) => l.includes("election storage is reachable again"))).toBe(true);
      } finally {
        await Promise.all(running.map((n) => n.stop()));
        running = [];
        await back.stop();
      }
    } finally {
      setLogSink((line) => process.stderr.write(line));
    }
  });

  test("storage that accepts connections and never answers: nobody leads, and stop() still returns", async () => {
    const blackHole = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const lines: string[] = [];
    setLogSink((line) => lines.push(line));
    try {
      const env = { ...s3.env, AWS_CONFIG_STORAGE_ENDPOINT: `http://127.0.0.1:${blackHole.port}` };
      const { node } = await cluster(env);
      const nodes = ["h1", "h2"].map(node);
      await waitFor(
        "both nodes to report the hung storage",
        () => lines.filter((l) => l.includes("did not answer")).length >= 2,
      );
      expect(leaders(nodes)).toEqual([]);
      await Promise.all(nodes.map((n) => n.stop()));
      running = [];
    } finally {
      setLogSink((line) => process.stderr.write(line));
      blackHole.stop(true);
    }
  });

  test("the same election works on GCS (emulator)", async () => {
    const gcs = await startGcsEmulator();
    try {
      const { node } = await cluster(gcs.env, "gcs");
      const nodes = ["g1", "g2", "g3"].map(node);
      const leader = await oneLeader(nodes);
      await leader.stop();
      const next = await oneLeader(nodes, "another node to take over on GCS");
      expect(next).not.toBe(leader);
    } finally {
      await Promise.all(running.map((n) => n.stop()));
      running = [];
      await gcs.stop();
    }
  });

  test("a node id that cannot be an object name is refused up front", async () => {
    const { storage, prefix } = await cluster();
    expect(
      () =>
        new Election({ storage, prefix, version: VERSION, nodeId: "../x", intervalMs: 100, marginMs: 100 }),
    ).toThrow(/node id "..\/x" must be letters, digits/);
  });
});
