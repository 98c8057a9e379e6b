/** The PROXY protocol header (v1 text, v2 binary) a load balancer puts before the HTTP bytes on `proxy_protocol` listeners. */
import { ProtocolError } from "../http1/wire";

export interface ProxyHeader {
  /** Bytes the header took. */
  length: number;
  /** The original client's address, or null for `UNKNOWN`/`LOCAL` (health checks from the balancer itself). */
  source: string | null;
}

/** v1's longest line (`PROXY TCP6 <39> <39> <5> <5>\r\n`). */
const V1_MAX = 107;
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from("PROXY ");

const broken = () =>
  new ProtocolError("broken header: the connection did not start with a PROXY protocol header");

/** Parses the header at the start of `buf`; null while more bytes are needed; throws when it is not one. */
export function parseProxyHeader(buf: Buffer): ProxyHeader | null {
  if (startsWith(buf, V2_SIGNATURE)) return parseV2(buf);
  if (startsWith(buf, V1_PREFIX)) return parseV1(buf);
  // Too short to tell yet, and still a prefix of one of the two.
  if (buf.length < V2_SIGNATURE.length && (isPrefix(buf, V2_SIGNATURE) || isPrefix(buf, V1_PREFIX)))
    return null;
  throw broken();
}

function startsWith(buf: Buffer, prefix: Buffer): boolean {
  return buf.length >= prefix.length && buf.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;
}

const isPrefix = (buf: Buffer, of: Buffer) => of.compare(buf, 0, buf.length, 0, buf.length) === 0;

function parseV1(buf: Buffer): ProxyHeader | null {
  const lf = buf.indexOf(10);
  if (lf === -1) {
    if (buf.length > V1_MAX) throw broken();
    return null;
  }
  if (lf > V1_MAX || buf[lf - 1] !== 13) throw broken();
  const parts = buf.toString("latin1", 0, lf - 1).split(" ");
  if (parts[1] === "UNKNOWN") return { length: lf + 1, source: null };
  const [, family, source, , sourcePort] = parts;
  const v4 = family === "TCP4" && /^\d{1,3}(\.\d{1,3}){3}$/.test(source ?? "");
  const v6 = family === "TCP6" && /^[0-9a-fA-F:.]+$/.test(source ?? "") && (source ?? "").includes(":");
  if (parts.length !== 6 || (!v4 && !v6) || !/^\d{1,5}$/.test(sourcePort ?? "")) throw broken();
  return { length: lf + 1, source: source as string };
}

function parseV2(buf: Buffer): ProxyHeader | null {
  if (buf.length < 16) return null;
  const length = 16 + buf.readUInt16BE(14);
  if (buf.length < length) return null;
  const versionCommand = buf[12] as number;
  if (versionCommand >> 4 !== 2) throw broken();
  // LOCAL: the balancer speaking for itself; keep the peer.
  if ((versionCommand & 0x0f) === 0) return { length, source: null };
  if ((versionCommand & 0x0f) !== 1) throw broken();
  const family = (buf[13] as number) >> 4;
  if (family === 1 && length >= 16 + 12) return { length, source: [...buf.subarray(16, 20)].join(".") };
  if (family === 2 && length >= 16 + 36) {
    const groups: string[] = [];
    for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(16 + 2 * i).toString(16));
    // The URL parser writes IPv6 in its canonical compressed form, as nginx logs it.
    return { length, source: new URL(`http://[${groups.join(":")}]/`).hostname.slice(1, -1) };
  }
  // AF_UNSPEC or AF_UNIX: no IP to tell.
  if (family === 0 || family === 3) return { length, source: null };
  throw broken();
}
