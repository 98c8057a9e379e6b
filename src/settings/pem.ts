/** Certificate and key settings hold a file path, PEM text or base64 PEM (as in Kong); this resolves them to checked PEM text. */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";

export type PemKind = "certificate" | "key";

export type PemResult =
  | { ok: true; pem: string /** Absolute path when the value named a file. */; path?: string }
  | { ok: false; problem: string };

const isFile = (value: string) => {
  try {
    return existsSync(value) && statSync(value).isFile();
  } catch {
    return false;
  }
};

/** Kong's try_decode_base64: a value that decodes to PEM is PEM, anything else is taken as written. */
function decodeInline(value: string): string {
  if (value.includes("-----BEGIN")) return value;
  const decoded = Buffer.from(value.replace(/\s+/g, ""), "base64").toString("utf8");
  return decoded.includes("-----BEGIN") ? decoded : value;
}

function check(pem: string, kind: PemKind): string | null {
  try {
    if (kind === "certificate") new X509Certificate(pem);
    else createPrivateKey(pem);
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

const looksLikePath = (value: string) =>
  !value.includes("-----BEGIN") && /[/\\]|\.(pem|crt|cer|key)$/i.test(value);

/**
 * Resolves a certificate or key setting. Problems never quote inline key material: a key's text is a secret
 * and these messages reach logs and `gw check` output.
 */
export function readPemSetting(value: string, kind: PemKind): PemResult {
  const what = kind === "certificate" ? "certificate" : "key";
  if (isFile(value)) {
    const path = resolve(value);
    let pem: string;
    try {
      pem = readFileSync(path, "utf8");
    } catch (error) {
      return { ok: false, problem: `cannot read ${path}: ${(error as NodeJS.ErrnoException).code}` };
    }
    const bad = check(pem, kind);
    return bad
      ? { ok: false, problem: `failed loading ${what} from ${path} (${bad})` }
      : { ok: true, pem, path };
  }
  const pem = decodeInline(value);
  if (!pem.includes("-----BEGIN") && looksLikePath(value))
    return { ok: false, problem: `no such file at ${value}` };
  const bad = check(pem, kind);
  if (!bad) return { ok: true, pem };
  const from = kind === "key" || value.length > 80 || value.includes("\n") ? "the inline value" : value;
  return { ok: false, problem: `failed loading ${what} from ${from} (${bad})` };
}

/** For callers past settings validation: the PEM text, or an error naming the setting and the problem. */
export function pemOrThrow(value: string | null | undefined, kind: PemKind, setting: string): string {
  if (!value) throw new Error(`${setting}: required; set it to a PEM file path, PEM text or base64 PEM`);
  const r = readPemSetting(value, kind);
  if (!r.ok) throw new Error(`${setting}: ${r.problem}`);
  return r.pem;
}
