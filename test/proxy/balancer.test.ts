import { describe, expect, test } from "bun:test";
import { Balancer, parseTarget } from "../../src/proxy/balancer";

describe("parseTarget", () => {
  test("appends Kong's default port 8000 when the target has none", () => {
    expect(parseTarget("example.com")).toEqual({ host: "example.com", port: 8000 });
    expect(parseTarget("10.0.0.1:81")).toEqual({ host: "10.0.0.1", port: 81 });
    expect(parseTarget("[::1]:9000")).toEqual({ host: "::1", port: 9000 });
    expect(parseTarget("[::1]")).toEqual({ host: "::1", port: 8000 });
  });
});

describe("Balancer", () => {
  test("spreads picks in proportion to weights, interleaved rather than in bursts", () => {
    const b = new Balancer([
      { target: "a:1", weight: 300 },
      { target: "b:1", weight: 100 },
    ]);
    const picks = Array.from({ length: 8 }, () => b.pick()!.target);
    expect(picks.filter((t) => t === "a:1")).toHaveLength(6);
    expect(picks.filter((t) => t === "b:1")).toHaveLength(2);
    expect(picks.slice(0, 4)).toContain("b:1");
  });

  test("weight 0 disables a target; no usable target gives no peer", () => {
    expect(new Balancer([{ target: "a:1", weight: 0 }]).pick()).toBeNull();
    const b = new Balancer([
      { target: "a:1", weight: 0 },
      { target: "b:1", weight: 10 },
    ]);
    expect(b.pick()!.target).toBe("b:1");
  });

  test("retries skip targets this request already tried", () => {
    const b = new Balancer([
      { target: "a:1", weight: 10 },
      { target: "b:1", weight: 10 },
    ]);
    const first = b.pick()!;
    const second = b.pick(new Set([first]))!;
    expect(second.target).not.toBe(first.target);
    expect(b.pick(new Set(b.list()))).toBeNull();
  });
});
