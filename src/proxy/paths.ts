/** Kong's request-path normalization, upstream path computation (strip_path, path_handling) and upstream URI escaping. */

/** RFC 3986 reserved characters (plus `%`): Kong leaves their percent-triplets encoded, because decoding them changes meaning. */
const RESERVED = new Set("!*'();:@&=+$,/?%#[]");

const HEX = /%([0-9A-Fa-f]{2})/g;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Decodes percent-triplets as Kong does: unreserved and "other" characters are decoded, reserved ones only
 * uppercased. Kong works on bytes; a run of non-ASCII bytes that is not valid UTF-8 stays encoded here, so a JS
 * string can carry it and escaping it again for the upstream gives the same bytes Kong would send.
 */
function decodeTriplets(path: string): string {
  let out = "";
  let last = 0;
  let bytes: number[] = [];
  let runStart = -1;
  let runEnd = -1;
  const flush = () => {
    if (runStart < 0) return;
    try {
      out += utf8.decode(new Uint8Array(bytes));
    } catch {
      out += path.slice(runStart, runEnd).toUpperCase();
    }
    bytes = [];
    runStart = -1;
  };
  for (const m of path.matchAll(HEX)) {
    const at = m.index;
    const byte = Number.parseInt(m[1] as string, 16);
    if (runStart >= 0 && (at !== runEnd || byte < 0x80)) flush();
    out += path.slice(last, at);
    last = at + 3;
    if (byte >= 0x80) {
      if (runStart < 0) runStart = at;
      runEnd = at + 3;
      bytes.push(byte);
    } else {
      const ch = String.fromCharCode(byte);
      out += RESERVED.has(ch) ? m[0].toUpperCase() : ch;
    }
  }
  flush();
  return out + path.slice(last);
}

/**
 * Kong's path normalization (`kong.tools.uri.normalize(path, true)`): percent-triplets uppercased, unreserved
 * ones decoded, dot segments removed, `//` merged. Paths needing none of that come back as the same string.
 */
export function normalizePath(path: string): string {
  if (path === "" || path === "/") return path;
  const uri = path.includes("%") ? decodeTriplets(path) : path;
  if (!uri.includes(".") && !uri.includes("//")) return uri;
  return removeDotSegments(uri);
}

/** RFC 3986 §5.2.4 over an index instead of a shrinking string, merging empty segments as Kong does. */
function removeDotSegments(uri: string): string {
  const out: string[] = [];
  const n = uri.length;
  let i = 0;
  while (i < n) {
    const rest = n - i;
    const c0 = uri[i];
    const c1 = uri[i + 1];
    const c2 = uri[i + 2];
    if (c0 === "/" && c1 === "." && rest === 2) {
      out.push("/");
      break;
    }
    if (c0 === "/" && c1 === "." && c2 === "." && rest === 3) {
      out.pop();
      out.push("/");
      break;
    }
    if (c0 === "." && (rest === 1 || (rest === 2 && c1 === "."))) break;
    if (c0 === "." && c1 === "." && c2 === "/") i += 3;
    else if (c0 === "." && c1 === "/") i += 2;
    else if (c0 === "/" && c1 === "." && c2 === "/") i += 2;
    else if (c0 === "/" && c1 === "." && c2 === "." && uri[i + 3] === "/") {
      i += 3;
      out.pop();
    } else if (c0 === "/" && c1 === "/") i += 1;
    else {
      const next = uri.indexOf("/", i + 1);
      const end = next < 0 ? n : next;
      out.push(uri.slice(i, end));
      i = end;
    }
  }
  return out.join("");
}

/** Characters Kong sends to the upstream as they are; everything else is percent-encoded byte by byte. */
const SAFE = /^[!#$&'()*+,/:;=?@[\]A-Za-z0-9\-_.~%]*$/;
const UNSAFE = /[^!#$&'()*+,/:;=?@[\]A-Za-z0-9\-_.~%]/gu;
const utf8Encoder = new TextEncoder();

/** Kong's `kong.tools.uri.escape`: makes a normalized path safe to put on the wire to the upstream. */
export function escapeUpstreamPath(path: string): string {
  if (SAFE.test(path)) return path;
  return path.replace(UNSAFE, (ch) => {
    let enc = "";
    for (const b of utf8Encoder.encode(ch)) enc += `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
    return enc;
  });
}

/** What is left of the request path after the matched prefix, with a leading `.`/`..` segment dropped (Kong's sanitizer). */
export function sanitizePostfix(postfix: string): string {
  if (postfix === "." || postfix === "..") return "";
  if (postfix.startsWith("./")) return postfix.slice(2);
  if (postfix.startsWith("../")) return postfix.slice(3);
  return postfix;
}

/**
 * The path Kong sends upstream (before escaping), per the `strip_path` × `path_handling` tables: the service path
 * (`null` meaning `/`) joined with the normalized request path, minus the matched prefix when `stripPath` is set.
 * `matchedPrefix` is the part of the path the route matched (the whole match for `~` paths), `null` when the
 * route has no paths.
 */
export function computeUpstreamPath(
  servicePath: string | null | undefined,
  requestPath: string,
  matchedPrefix: string | null,
  stripPath: boolean,
  pathHandling: "v0" | "v1",
): string {
  const base = servicePath || "/";
  const prefix = stripPath && matchedPrefix ? matchedPrefix : "/";
  const postfix = sanitizePostfix(requestPath.slice(prefix.length));
  return pathHandling === "v1"
    ? upstreamV1(base, requestPath, postfix, stripPath)
    : upstreamV0(base, requestPath, postfix, stripPath);
}

function upstreamV0(base: string, req: string, postfix: string, strip: boolean): string {
  if (base.endsWith("/")) {
    if (!strip) return base + req.slice(1);
    if (postfix === "") {
      if (base === "/" || req.endsWith("/")) return base;
      return base.slice(0, -1);
    }
    return postfix.startsWith("/") ? base.slice(0, -1) + postfix : base + postfix;
  }
  if (!strip) return req === "/" ? base : base + req;
  if (postfix === "") return req.length > 1 && req.endsWith("/") ? `${base}/` : base;
  return postfix.startsWith("/") ? base + postfix : `${base}/${postfix}`;
}

/** The deprecated v1 handling (Kong's `traditional` flavor only): the service path is a raw string prefix. */
function upstreamV1(base: string, req: string, postfix: string, strip: boolean): string {
  if (!strip) return base + req.slice(1);
  return base.endsWith("/") && postfix.startsWith("/") ? base.slice(0, -1) + postfix : base + postfix;
}
