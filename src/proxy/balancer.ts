/** Load balancing across an upstream's targets: smooth weighted round-robin (nginx's algorithm), weight 0 = disabled. */

export interface Peer {
  host: string;
  port: number;
  /** The target as configured (`host:port`), for logs and the health endpoints. */
  target: string;
  weight: number;
}

/** Splits `host[:port]` (IPv6 in brackets) with Kong's default target port 8000. */
export function parseTarget(target: string, defaultPort = 8000): { host: string; port: number } {
  const v6 = target.match(/^\[([^\]]+)\](?::(\d+))?$/);
  if (v6) return { host: v6[1]!, port: v6[2] ? Number(v6[2]) : defaultPort };
  const colon = target.lastIndexOf(":");
  if (colon > 0 && target.indexOf(":") === colon) {
    return { host: target.slice(0, colon), port: Number(target.slice(colon + 1)) };
  }
  return { host: target, port: defaultPort };
}

export class Balancer {
  private readonly peers: Peer[];
  private readonly current: number[];
  private readonly total: number;

  constructor(targets: { target: string; weight: number }[]) {
    this.peers = targets
      .filter((t) => t.weight > 0)
      .map((t) => ({ ...parseTarget(t.target), target: t.target, weight: t.weight }));
    this.current = this.peers.map(() => 0);
    this.total = this.peers.reduce((sum, p) => sum + p.weight, 0);
  }

  get size(): number {
    return this.peers.length;
  }

  /** The next peer, skipping those in `exclude` (targets already tried by this request's retries). */
  pick(exclude?: Set<Peer>): Peer | null {
    let best = -1;
    for (let i = 0; i < this.peers.length; i++) {
      const peer = this.peers[i]!;
      this.current[i]! += peer.weight;
      if (exclude?.has(peer)) continue;
      if (best < 0 || this.current[i]! > this.current[best]!) best = i;
    }
    if (best < 0) return null;
    this.current[best]! -= this.total;
    return this.peers[best]!;
  }

  list(): readonly Peer[] {
    return this.peers;
  }
}
