import { describe, expect, test } from "bun:test";
import { metaOf, SETTING_NAMES, settingsReference } from "../../src/settings";

describe("the settings schema", () => {
  test("every setting has a description and a fix, so gw check and the docs never show a blank", () => {
    for (const name of SETTING_NAMES) {
      const meta = metaOf(name);
      expect(meta.fix.length, name).toBeGreaterThan(0);
    }
    for (const ref of settingsReference()) expect(ref.description.length, ref.name).toBeGreaterThan(10);
  });

  test("the reference shows Kong's defaults in kong.conf form and flags what differs from Kong", () => {
    const byName = new Map(settingsReference().map((r) => [r.name, r]));
    expect(byName.get("proxy_listen")?.default).toBe(
      "0.0.0.0:8000 reuseport backlog=16384, 0.0.0.0:8443 http2 ssl reuseport backlog=16384",
    );
    expect(byName.get("headers")?.default).toBe("server_tokens, latency_tokens, x-kong-request-id");
    expect(byName.get("pg_ssl")?.default).toBe("off");
    expect(byName.get("cluster_cert")?.default).toBe("NONE");
    expect(byName.get("database")).toMatchObject({ default: "sqlite", kongDefault: "postgres" });
  });

  test("passwords, private keys, inline configs and the encryption key are sensitive; certificates are not", () => {
    const sensitive = settingsReference()
      .filter((r) => r.sensitive)
      .map((r) => r.name);
    expect(sensitive).toEqual(
      expect.arrayContaining([
        "pg_password",
        "cluster_cert_key",
        "ssl_cert_key",
        "declarative_config_string",
        "proxy_server",
        "cluster_fallback_config_encryption_key",
      ]),
    );
    expect(sensitive).not.toContain("cluster_cert");
  });
});
