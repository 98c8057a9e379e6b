/** The data plane's link to its control plane: dial, basic_info, hash pings, newest-wins config apply, reconnect forever. */
import { logger } from "../log/logger";
import {
  type BasicInfo,
  type CpMessage,
  decodeCpMessage,
  OUTLET_PATH,
  PING_INTERVAL_MS,
  PING_WAIT_MS,
  type PluginInfo,
  ProtocolError,
  type Reconfigure,
  reconnectDelayMs,
} from "./protocol";

const log = logger("clustering");

export type ApplyResult = { ok: true } | { ok: false; errors: string[] };

export interface DataPlaneLinkOptions {
  /** `host:port` of the control plane's cluster listener. */
  controlPlane: string;
  nodeId: string;
  hostname: string;
  version: string;
  plugins: PluginInfo[];
  labels?: Record<string, string>;
  maxPayload: number;
  /** TLS options for the WebSocket client (client certificate, trust, server name). */
  tls: Record<string, unknown>;
  /** Turns a connection error into a sentence that says what to fix. */
  explainError?: (message: string) => string;
  currentHash(): string;
  apply(msg: Reconfigure): Promise<ApplyResult>;
  onStateChange?(connected: boolean): void;
}

/** One WebSocket session at a time; a dead CP only delays the next dial, never the proxy. */
export class DataPlaneLink {
  private ws: WebSocket | null = null;
  private stopped = false;
  private attempt = 0;
  private pending: Reconfigure | null = null;
  private applying = false;
  private gwControlPlane = false;
  private pingTimer: Timer | null = null;
  private watchdog: Timer | null = null;
  private reconnectTimer: Timer | null = null;
  private everConnected = false;
  private readonly firstOutcome: Promise<boolean>;
  private settleFirst!: (connected: boolean) => void;
  connected = false;

  constructor(private readonly opts: DataPlaneLinkOptions) {
    this.firstOutcome = new Promise((resolve) => {
      this.settleFirst = resolve;
    });
  }

  /** Resolves after the first dial: true if it reached the CP, false if it failed (callers then try fallbacks). */
  firstAttempt(): Promise<boolean> {
    return this.firstOutcome;
  }

  start(): void {
    this.dial();
  }

  stop(): void {
    this.stopped = true;
    this.clearTimers();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.ws?.close(1000, "data plane shutting down");
  }

  private url(): string {
    const q = `node_id=${this.opts.nodeId}&node_hostname=${encodeURIComponent(this.opts.hostname)}&node_version=${this.opts.version}`;
    return `wss://${this.opts.controlPlane}${OUTLET_PATH}?${q}`;
  }

  private dial(): void {
    if (this.stopped) return;
    let opened = false;
    const ws = new WebSocket(this.url(), { tls: this.opts.tls } as unknown as string[]);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.addEventListener("open", () => {
      opened = true;
      this.attempt = 0;
      this.gwControlPlane = false;
      this.setConnected(true);
      log.info(`connected to control plane ${this.opts.controlPlane}`);
      ws.send(new TextEncoder().encode(JSON.stringify(this.basicInfo())));
      this.armWatchdog();
      this.ping();
      this.pingTimer = setInterval(() => this.ping(), PING_INTERVAL_MS);
    });
    ws.addEventListener("message", (ev) => {
      this.armWatchdog();
      if (ev.data instanceof ArrayBuffer) this.receive(new Uint8Array(ev.data));
    });
    ws.addEventListener("pong" as "message", () => this.armWatchdog());
    let lastError = "";
    ws.addEventListener("error", (ev) => {
      lastError = (ev as ErrorEvent).message ?? "connection error";
    });
    ws.addEventListener("close", (ev) => {
      this.clearTimers();
      if (this.ws === ws) this.ws = null;
      this.setConnected(false);
      if (!opened) this.settleFirst(false);
      if (this.stopped) return;
      const delay = reconnectDelayMs(this.attempt++);
      const reason = lastError || ev.reason || `closed with code ${ev.code}`;
      const explained = this.opts.explainError ? this.opts.explainError(reason) : reason;
      log.error(
        `connection to control plane ${this.url()} broken: ${explained} (retrying after ${(delay / 1000).toFixed(1)} seconds)`,
      );
      this.reconnectTimer = setTimeout(() => this.dial(), delay);
    });
  }

  private basicInfo(): BasicInfo {
    const info: BasicInfo = { type: "basic_info", plugins: this.opts.plugins };
    if (this.opts.labels && Object.keys(this.opts.labels).length > 0) info.labels = this.opts.labels;
    return info;
  }

  private setConnected(connected: boolean): void {
    if (connected === this.connected) return;
    this.connected = connected;
    if (connected && !this.everConnected) {
      this.everConnected = true;
      this.settleFirst(true);
    }
    this.opts.onStateChange?.(connected);
  }

  private ping(): void {
    this.ws?.ping(this.opts.currentHash());
  }

  /** Kong's read timeout: no frame or pong for 45 s means the CP is gone even if TCP has not noticed. */
  private armWatchdog(): void {
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => {
      log.error(`did not receive pong frame from control plane within ${PING_WAIT_MS / 1000} seconds`);
      this.ws?.close(4000, "ping timeout");
    }, PING_WAIT_MS);
  }

  private clearTimers(): void {
    if (this.pingTimer) clearInterval(this.pingTimer);
    if (this.watchdog) clearTimeout(this.watchdog);
    this.pingTimer = this.watchdog = null;
  }

  /** Only the newest config matters: one arriving while another applies replaces any that was waiting. */
  private receive(frame: Uint8Array<ArrayBuffer>): void {
    let msg: CpMessage | null;
    try {
      msg = decodeCpMessage(frame, this.opts.maxPayload);
    } catch (e) {
      const reason = e instanceof ProtocolError ? e.message : String(e);
      log.error(`unable to update running config: bad config received from control plane: ${reason}`);
      this.reportRejection("", [reason]);
      return;
    }
    if (msg?.type === "gw_hello") this.gwControlPlane = true;
    if (msg?.type !== "reconfigure") return;
    this.pending = msg;
    if (!this.applying) void this.drain();
  }

  private async drain(): Promise<void> {
    this.applying = true;
    while (this.pending) {
      const msg = this.pending;
      this.pending = null;
      if (msg.config_hash && msg.config_hash === this.opts.currentHash()) continue;
      const result = await this.opts.apply(msg);
      if (result.ok) {
        this.ping();
        continue;
      }
      log.error(
        `unable to update running config: bad config received from control plane: ${result.errors.join("; ")}`,
      );
      this.reportRejection(msg.config_hash, result.errors);
    }
    this.applying = false;
  }

  /** gw's CP shows per-DP rejections; a Kong CP would drop the link on a data frame, so only gw CPs are told. */
  private reportRejection(hash: string, errors: string[]): void {
    if (!this.gwControlPlane) return;
    this.ws?.send(
      JSON.stringify({ type: "config_rejected", config_hash: hash, errors: errors.slice(0, 20) }),
    );
  }
}
