/** Leader election among backup exporters through plain objects under `<prefix>/<version>/election/` (no conditional writes). */
import { logger } from "../log/logger";
import type { ConfigStorage } from "./storage/types";
import { electionKey, electionPrefix } from "./storage/url";

const log = logger("election");

/*
 * Each round a node writes `election/<node_id>` = { node_id, registered_at, refreshed_at }, lists the folder and reads
 * every registration. The leader is the earliest-registered live node (ties: smallest node id).
 *
 * A peer is alive while both hold:
 *  - its refreshed_at is within interval + margin of our clock, and
 *  - we have seen its refreshed_at change within interval + margin of our own clock.
 * The first rule hands over within one interval + margin when clocks agree; the second catches a dead peer whose clock
 * ran ahead (it would otherwise look alive until its clock's lead ran out). Assumption: clocks agree to well within
 * the margin (NTP). A node whose clock lags by more than the margin looks dead to its peers, so it and another node
 * may both lead: two nodes export the same config, which is wasteful, not harmful.
 *
 * Without conditional writes two nodes can briefly disagree. A node never leads within interval + margin of its
 * registration: any node that registered earlier and is healthy finished its write within that time (a slower round
 * fails and re-registers), so it is visible by then. A node whose own refresh lapsed beyond interval + margin was
 * presumed dead by its peers, so it re-registers at the back of the line instead of snatching leadership back.
 *
 * `isLeader()` turns false as soon as this node's last successful refresh is older than interval + margin, the same
 * moment its peers may start to presume it dead; `onChange` follows at the end of the round, so act on `isLeader()`.
 */

export interface ElectionOptions {
  storage: ConfigStorage;
  prefix: string;
  version: string;
  nodeId: string;
  intervalMs: number;
  marginMs: number;
  /** Called with the new state whenever this node gains or loses leadership. */
  onChange?: (leader: boolean) => void;
}

interface Registration {
  node_id: string;
  registered_at: string;
  refreshed_at: string;
}

interface Peer {
  key: string;
  nodeId: string;
  registeredAt: number;
  refreshedAt: number;
}

const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Registrations abandoned this long (crashed nodes) are deleted by the leader, so the folder does not grow forever. */
const STALE_ROUNDS = 10;

class RoundTimeout extends Error {}

function parseRegistration(key: string, body: Uint8Array): Peer | undefined {
  try {
    const r = JSON.parse(new TextDecoder().decode(body)) as Partial<Registration>;
    const registeredAt = Date.parse(String(r.registered_at));
    const refreshedAt = Date.parse(String(r.refreshed_at));
    if (typeof r.node_id !== "string" || Number.isNaN(registeredAt) || Number.isNaN(refreshedAt))
      return undefined;
    return { key, nodeId: r.node_id, registeredAt, refreshedAt };
  } catch {
    return undefined;
  }
}

const byRank = (a: Peer, b: Peer) =>
  a.registeredAt - b.registeredAt || (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0);

export class Election {
  private readonly options: ElectionOptions;
  private readonly key: string;
  private readonly folder: string;
  private readonly lifetimeMs: number;
  private registeredAt: number | undefined;
  /** Our clock when the last successful refresh started. */
  private lastRefresh = Number.NEGATIVE_INFINITY;
  private decidedLeader = false;
  private currentLeaderId: string | null = null;
  /** Per peer: the refreshed_at value last read and when (our clock) we first read that value. */
  private readonly seen = new Map<string, { refreshedAt: number; firstSeen: number }>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private inFlight: Promise<void> | undefined;
  private round = 0;
  private running = false;
  private failing = false;

  constructor(options: ElectionOptions) {
    if (!NODE_ID.test(options.nodeId))
      throw new Error(
        `election: node id "${options.nodeId}" must be letters, digits, ".", "_" or "-" (a UUID fits)`,
      );
    if (!(options.intervalMs > 0) || !(options.marginMs >= 0))
      throw new Error("election: intervalMs must be positive and marginMs not negative");
    this.options = options;
    this.key = electionKey(options.prefix, options.version, options.nodeId);
    this.folder = electionPrefix(options.prefix, options.version);
    this.lifetimeMs = options.intervalMs + options.marginMs;
  }

  /** True only while this node leads and its own registration is fresh: one that cannot refresh never claims to lead. */
  isLeader(): boolean {
    return this.decidedLeader && Date.now() - this.lastRefresh <= this.lifetimeMs;
  }

  /** The node this one last saw leading (itself included), or null when it does not know. */
  leaderId(): string | null {
    return this.currentLeaderId;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  /** Stops refreshing and deletes this node's registration so the others take over at their next round. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearTimeout(this.timer);
    await this.inFlight;
    this.round++;
    this.decide(false, null);
    try {
      await this.withDeadline(this.options.storage.delete(this.key));
    } catch (error) {
      log.warn(`could not delete ${this.key}; peers will see it expire instead:`, error);
    }
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.inFlight = this.runRound().finally(() => {
        this.inFlight = undefined;
      });
    }, delayMs);
  }

  private async runRound(): Promise<void> {
    const token = ++this.round;
    const started = Date.now();
    // Rounds keep a fixed cadence from their start, so a slow round does not stretch the gap between refreshes.
    let nextAt = started + this.options.intervalMs;
    try {
      nextAt = await this.withDeadline(this.evaluate(token, started));
      if (this.failing) log.notice("election storage is reachable again");
      this.failing = false;
    } catch (error) {
      // A timed-out round may still finish later; moving the token on stops it from deciding anything.
      if (token === this.round) {
        this.round++;
        this.decide(false, null);
      }
      const timedOut = error instanceof RoundTimeout;
      const message = timedOut ? `storage did not answer within ${this.lifetimeMs} ms` : String(error);
      // The first failure is a warning; repeats are debug until it recovers, so an outage does not flood the log.
      (this.failing ? log.debug : log.warn)(`election round failed, not leading: ${message}`);
      this.failing = true;
    }
    // A floor keeps a node whose rounds outlast the interval from hammering a struggling store.
    if (this.running) this.schedule(Math.max(this.options.intervalMs / 10, nextAt - Date.now()));
  }

  private async withDeadline<T>(work: Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new RoundTimeout()), this.lifetimeMs);
    });
    try {
      return await Promise.race([work, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** One round: refresh, read the others, decide. Returns when (our clock) the next round should start. */
  private async evaluate(token: number, started: number): Promise<number> {
    const { storage, nodeId, intervalMs } = this.options;
    const regular = started + intervalMs;
    if (this.registeredAt === undefined || started - this.lastRefresh > this.lifetimeMs)
      this.registeredAt = started;
    const registration: Registration = {
      node_id: nodeId,
      registered_at: new Date(this.registeredAt).toISOString(),
      refreshed_at: new Date(started).toISOString(),
    };
    await storage.put(this.key, JSON.stringify(registration), {});
    if (token !== this.round) return regular;
    this.lastRefresh = started;

    const peers = await this.readPeers();
    if (token !== this.round) return regular;
    const now = Date.now();
    const self: Peer = { key: this.key, nodeId, registeredAt: this.registeredAt, refreshedAt: started };
    const live = [self, ...peers.filter((peer) => this.expiresAt(peer) >= now)].sort(byRank);
    const leader = live[0]!;
    const settled = now - this.registeredAt >= this.lifetimeMs;
    this.decide(leader === self && settled, leader === self && !settled ? null : leader.nodeId);
    if (leader === self) {
      if (settled) await this.removeAbandoned(peers, now);
      return regular;
    }
    // Look again right when the leader would expire, so a dead leader is replaced within interval + margin.
    return Math.min(regular, this.expiresAt(leader) + 1);
  }

  private expiresAt(peer: Peer): number {
    const firstSeen = this.seen.get(peer.nodeId)?.firstSeen ?? Number.POSITIVE_INFINITY;
    return Math.min(peer.refreshedAt, firstSeen) + this.lifetimeMs;
  }

  private async readPeers(): Promise<Peer[]> {
    const { storage } = this.options;
    const listed = (await storage.list(this.folder)).filter((object) => object.key !== this.key);
    const peers = await Promise.all(
      listed.map(async (object) => {
        const stored = await storage.get(object.key);
        const peer = stored ? parseRegistration(object.key, stored.body) : undefined;
        if (stored && !peer) log.debug(`ignoring ${object.key}: not a registration`);
        return peer;
      }),
    );
    const now = Date.now();
    const found = peers.filter(
      (peer): peer is Peer => peer !== undefined && peer.nodeId !== this.options.nodeId,
    );
    for (const peer of found) {
      const previous = this.seen.get(peer.nodeId);
      if (previous?.refreshedAt !== peer.refreshedAt)
        this.seen.set(peer.nodeId, { refreshedAt: peer.refreshedAt, firstSeen: now });
    }
    for (const id of this.seen.keys()) if (!found.some((peer) => peer.nodeId === id)) this.seen.delete(id);
    return found;
  }

  /** Housekeeping only: a failure here is logged and never costs this node its leadership. */
  private async removeAbandoned(peers: Peer[], now: number): Promise<void> {
    const abandoned = peers.filter((peer) => now - peer.refreshedAt > STALE_ROUNDS * this.lifetimeMs);
    for (const peer of abandoned) {
      const since = new Date(peer.refreshedAt).toISOString();
      log.info(`removing the registration of ${peer.nodeId}, silent since ${since}`);
      await this.options.storage
        .delete(peer.key)
        .catch((error) => log.info(`could not remove ${peer.key}; will retry next round:`, error));
    }
  }

  private decide(leader: boolean, leaderId: string | null): void {
    this.currentLeaderId = leaderId;
    if (leader === this.decidedLeader) return;
    this.decidedLeader = leader;
    log.notice(
      leader ? `${this.options.nodeId} is now the leader` : `${this.options.nodeId} is no longer the leader`,
    );
    try {
      this.options.onChange?.(leader);
    } catch (error) {
      log.error("election change listener failed:", error);
    }
  }
}
