import { describe, expect, test } from "bun:test";
import { ipRestriction } from "../../src/plugins/ip-restriction";
import { access, config, configErrors, makeContext, request } from "./helpers";

const from = (clientIp: string) => makeContext(request("/"), { clientIp });

describe("ip-restriction", () => {
  test("config: one list is needed and entries must be IPs or CIDRs", () => {
    expect(configErrors(ipRestriction, {})).toEqual({
      "@entity": ["at least one of these fields must be non-empty: 'allow', 'deny'"],
    });
    expect(configErrors(ipRestriction, { allow: ["10.0.0.0/33"] })).toEqual({
      allow: ["invalid ip or cidr range: '10.0.0.0/33'"],
    });
  });

  test("allow list with v4 and v6 blocks", async () => {
    const conf = config(ipRestriction, { allow: ["10.0.0.0/8", "2001:db8::/32"] });
    expect(await access(ipRestriction, from("10.2.3.4"), conf)).toBeUndefined();
    expect(await access(ipRestriction, from("2001:db8::1"), conf)).toBeUndefined();
    expect(await access(ipRestriction, from("::ffff:10.9.9.9"), conf)).toBeUndefined();
    expect(await access(ipRestriction, from("192.168.1.1"), conf)).toEqual({
      status: 403,
      message: "IP address not allowed: 192.168.1.1",
    });
  });

  test("deny wins over allow; status and message are configurable", async () => {
    const conf = config(ipRestriction, {
      allow: ["10.0.0.0/8"],
      deny: ["10.0.0.5"],
      status: 401,
      message: "go away",
    });
    expect(await access(ipRestriction, from("10.0.0.5"), conf)).toEqual({ status: 401, message: "go away" });
    expect(await access(ipRestriction, from("10.0.0.6"), conf)).toBeUndefined();
  });

  test("a client without an IP address (unix socket) is refused", async () => {
    expect(await access(ipRestriction, from(""), config(ipRestriction, { deny: ["10.0.0.1"] }))).toEqual({
      status: 403,
      message: "Cannot identify the client IP address, unix domain sockets are not supported.",
    });
  });
});
