/** Matches IPv4/IPv6 addresses against lists of addresses and CIDR blocks (trusted_ips, ip-restriction). */
import { isIP } from "node:net";

interface Block {
  bytes: Uint8Array;
  prefix: number;
}

/** IPv4-mapped IPv6 (`::ffff:1.2.3.4`, what dual-stack sockets report) is treated as the IPv4 address. */
function toBytes(ip: string): Uint8Array | null {
  const mapped = ip.toLowerCase().startsWith("::ffff:") && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
  const family = isIP(mapped);
  if (family === 4) return Uint8Array.from(mapped.split(".").map(Number));
  if (family !== 6) return null;
  const [head, tail = ""] = mapped.split("::") as [string, string?];
  const groups = (s: string) => (s ? s.split(":") : []);
  let left = groups(head);
  let right = groups(tail);
  const last = (right.length ? right : left).at(-1);
  const v4 = last && isIP(last) === 4 ? last.split(".").map(Number) : null;
  if (v4) {
    const words = [((v4[0]! << 8) | v4[1]!).toString(16), ((v4[2]! << 8) | v4[3]!).toString(16)];
    if (right.length) right = [...right.slice(0, -1), ...words];
    else left = [...left.slice(0, -1), ...words];
  }
  const fill = mapped.includes("::") ? 8 - left.length - right.length : 0;
  const all = [...left, ...Array(fill).fill("0"), ...right];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    const v = Number.parseInt(g, 16);
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 0xff;
  });
  return out;
}

/** Parses `1.2.3.4`, `10.0.0.0/8`, `::1`, `fe80::/10`; null when it is neither. */
export function parseBlock(text: string): Block | null {
  const [addr, len] = text.trim().split("/") as [string, string?];
  const bytes = toBytes(addr);
  if (!bytes) return null;
  const max = bytes.length * 8;
  const prefix = len === undefined ? max : Number(len);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (len !== undefined && !/^\d+$/.test(len)))
    return null;
  return { bytes, prefix };
}

function contains(block: Block, ip: Uint8Array): boolean {
  if (block.bytes.length !== ip.length) return false;
  let bits = block.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((block.bytes[i]! & mask) !== (ip[i]! & mask)) return false;
  }
  return true;
}

export class IpMatcher {
  private readonly blocks: Block[];
  private readonly everything: boolean;

  /** Entries that are not addresses or blocks are the caller's to reject (validation happens at config time). */
  constructor(entries: readonly string[]) {
    this.everything = entries.includes("0.0.0.0/0") && entries.includes("::/0");
    this.blocks = entries.map(parseBlock).filter((b): b is Block => b !== null);
  }

  get empty(): boolean {
    return this.blocks.length === 0;
  }

  matches(ip: string): boolean {
    if (this.everything) return true;
    const bytes = toBytes(ip);
    return bytes !== null && this.blocks.some((b) => contains(b, bytes));
  }
}
