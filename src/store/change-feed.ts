/** Delivers one event per committed config version to subscribers, whether the commit was ours or another process'. */
import { logger } from "../log/logger";
import type { ChangeEvent, ChangeListener } from "./store";

const log = logger("store");

/** How many delivered versions are remembered to drop the echo of our own NOTIFY and late duplicates. */
const REMEMBERED = 4096;

/** The NOTIFY payload: small on purpose (PostgreSQL caps payloads at 8000 bytes). */
export interface ChangeMessage {
  v: number;
  op: ChangeEvent["op"];
  e?: string;
  id?: string;
}

export class ChangeFeed {
  private readonly listeners = new Set<ChangeListener>();
  private readonly delivered = new Set<number>();
  /** Versions this process bumped but has not delivered yet: their NOTIFY echo may overtake our own commit. */
  private readonly pending = new Set<number>();
  private highest = 0;

  get subscribed(): boolean {
    return this.listeners.size > 0;
  }

  subscribe(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The version the database held when the store opened: nothing at or below it is news. */
  start(version: number): void {
    this.highest = version;
  }

  expect(version: number): void {
    this.pending.add(version);
  }

  abandon(version: number): void {
    this.pending.delete(version);
  }

  local(message: ChangeMessage): void {
    this.pending.delete(message.v);
    this.deliver(message, false);
  }

  /** A NOTIFY from any process on the same database, our own included. */
  remote(payload: string): void {
    let message: ChangeMessage;
    try {
      message = JSON.parse(payload) as ChangeMessage;
    } catch {
      log.warn("ignoring a malformed change notification");
      return;
    }
    if (typeof message.v !== "number" || this.pending.has(message.v)) return;
    this.deliver(message, true);
  }

  /** After a reconnect or a poll: a version newer than any delivered means notifications were missed. */
  caughtUp(version: number): void {
    if (version > this.highest && !this.pending.has(version))
      this.deliver({ v: version, op: "resync" }, true);
  }

  private deliver(message: ChangeMessage, remote: boolean): void {
    if (this.delivered.has(message.v)) return;
    this.delivered.add(message.v);
    if (this.delivered.size > REMEMBERED) this.delivered.delete(this.delivered.values().next().value!);
    this.highest = Math.max(this.highest, message.v);
    const event: ChangeEvent = { version: message.v, op: message.op, remote };
    if (message.e) event.entity = message.e;
    if (message.id) event.id = message.id;
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        log.error("change listener failed:", error);
      }
    }
  }
}
