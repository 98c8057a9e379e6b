/** The control plane's side of each DP link: handshake checks, basic_info, compatibility, pushes, hash pings. */
import type { Server, ServerWebSocket, WebSocketHandler } from "bun";
import { logger } from "../log/logger";
import type { ConfigBroadcaster, Payload } from "./cp-broadcast";
import {
  checkPluginCompatibility,
  checkVersionCompatibility,
  decodeBasicInfo,
  decodeConfigRejected,
  encodeCpMessage,
  type Incompatibility,
  OUTLET_PATH,
  PING_WAIT_MS,
  ProtocolError,
  type SyncStatus,
} from "./protocol";

const log = logger("clustering");
const EMPTY_HASH = "0".repeat(32);
/** Kong's CLUSTERING_TIMEOUT: a DP must send basic_info this soon after the upgrade. */
const BASIC_INFO_TIMEOUT_MS = 5_000;

/** What the TLS front learned about the DP's certificate. */
export interface PeerCertificate {
  notAfter: number;
}

/** A DP as the CP records it (Kong's `clustering_data_planes` row, plus gw's last rejection). */
export interface DataPlaneRecord {
  id: string;
  hostname: string;
  ip: string;
  version: string;
  sync_status: SyncStatus;
  config_hash: string;
  last_seen: number;
  labels: Record<string, string>;
  cert_details: { expiry_timestamp: number | null };
  /** gw's addition: the last config this DP refused and why (null once it applies one). */
  rejected_config: { config_hash: string; errors: string[]; at: number } | null;
}

interface Session {
  record: DataPlaneRecord;
  plugins: Map<string, string> | null;
  unsubscribe: (() => void) | null;
  basicInfoTimer: Timer | null;
  /** Compatibility verdict cached per payload hash: the check runs once per config version per DP. */
  verdict: { hash: string; result: Incompatibility | null } | null;
}

export interface DataPlaneSessionsOptions {
  cpVersion: string;
  cpPlugins: ReadonlyMap<string, string>;
  broadcaster: ConfigBroadcaster;
  maxPayload: number;
  persist(record: DataPlaneRecord): Promise<void>;
}

const suffix = (r: DataPlaneRecord) =>
  ` [id: ${r.id}, host: ${r.hostname}, ip: ${r.ip}, version: ${r.version}]`;

export class DataPlaneSessions {
  private readonly live = new Map<string, ServerWebSocket<Session>>();

  constructor(private readonly opts: DataPlaneSessionsOptions) {}

  /** Connected DPs, newest state. */
  connected(): DataPlaneRecord[] {
    return [...this.live.values()].map((ws) => ws.data.record);
  }

  /** Kong's handshake checks before the upgrade: the path, then `node_id` and `node_version` are required. */
  upgrade(
    req: Request,
    server: Server<Session>,
    ip: string,
    cert: PeerCertificate | null,
  ): Response | undefined {
    const url = new URL(req.url);
    if (url.pathname !== OUTLET_PATH) return new Response("Not Found", { status: 404 });
    const id = url.searchParams.get("node_id");
    const version = url.searchParams.get("node_version");
    if (!id) return Response.json({ message: "'node_id' is required" }, { status: 400 });
    if (!version) return Response.json({ message: "'node_version' is required" }, { status: 400 });
    const record: DataPlaneRecord = {
      id,
      hostname: url.searchParams.get("node_hostname") ?? "",
      ip,
      version,
      sync_status: "unknown",
      config_hash: EMPTY_HASH,
      last_seen: Math.floor(Date.now() / 1000),
      labels: {},
      cert_details: { expiry_timestamp: cert?.notAfter ?? null },
      rejected_config: null,
    };
    const data: Session = { record, plugins: null, unsubscribe: null, basicInfoTimer: null, verdict: null };
    return server.upgrade(req, { data }) ? undefined : new Response("upgrade failed", { status: 400 });
  }

  readonly websocket: WebSocketHandler<Session> = {
    // DPs send only pings and small reports; this bounds what a misbehaving one can make us buffer.
    maxPayloadLength: 1 << 20,
    idleTimeout: PING_WAIT_MS / 1000,
    sendPings: false,
    perMessageDeflate: false,
    open: (ws) => {
      ws.data.basicInfoTimer = setTimeout(() => {
        log.warn(
          `data plane did not send basic_info within ${BASIC_INFO_TIMEOUT_MS / 1000} seconds${suffix(ws.data.record)}`,
        );
        ws.close(1002, "basic_info expected");
      }, BASIC_INFO_TIMEOUT_MS);
    },
    message: (ws, message) => {
      if (!ws.data.plugins) this.handshake(ws, message);
      else this.dataFrame(ws, message);
    },
    ping: (ws, data) => {
      const hash = new TextDecoder().decode(data);
      const r = ws.data.record;
      r.config_hash = /^[0-9a-f]{32}$/.test(hash) ? hash : EMPTY_HASH;
      r.last_seen = Math.floor(Date.now() / 1000);
      // A DP running the current config has nothing outstanding to report.
      if (r.config_hash === this.opts.broadcaster.payload()?.hash) r.rejected_config = null;
      void this.save(r);
    },
    close: (ws, code, reason) => {
      const s = ws.data;
      if (s.basicInfoTimer) clearTimeout(s.basicInfoTimer);
      s.unsubscribe?.();
      if (this.live.get(s.record.id) === ws) this.live.delete(s.record.id);
      log.info(`data plane disconnected (${code}${reason ? `: ${reason}` : ""})${suffix(s.record)}`);
    },
  };

  private handshake(ws: ServerWebSocket<Session>, message: string | Buffer): void {
    const s = ws.data;
    if (s.basicInfoTimer) clearTimeout(s.basicInfoTimer);
    let info: ReturnType<typeof decodeBasicInfo>;
    try {
      info = decodeBasicInfo(message);
    } catch (e) {
      log.warn(`${e instanceof ProtocolError ? e.message : String(e)}${suffix(s.record)}`);
      ws.close(1002, "basic_info expected");
      return;
    }
    s.plugins = new Map(info.plugins.map((p) => [p.name, p.version ?? ""]));
    s.record.labels = info.labels ?? {};
    const versionProblem = checkVersionCompatibility(this.opts.cpVersion, s.record.version);
    if (versionProblem) {
      s.record.sync_status = versionProblem.status;
      log.warn(`unable to connect data plane: ${versionProblem.message}${suffix(s.record)}`);
      void this.save(s.record);
      ws.close(1008, versionProblem.message.slice(0, 120));
      return;
    }
    this.live.get(s.record.id)?.close(1000, "replaced by a newer connection from the same node");
    this.live.set(s.record.id, ws);
    log.info(`data plane connected${suffix(s.record)}`);
    ws.send(encodeCpMessage({ type: "gw_hello", version: this.opts.cpVersion }));
    const sink = { push: (p: Payload) => this.push(ws, p) };
    s.unsubscribe = this.opts.broadcaster.subscribe(sink);
    void this.opts.broadcaster.ready().then((p) => {
      if (this.live.get(s.record.id) === ws) this.push(ws, p);
    });
    void this.save(s.record);
  }

  /** Kong's DPs send only pings; gw DPs may also report a refused config. Anything else ends the link. */
  private dataFrame(ws: ServerWebSocket<Session>, message: string | Buffer): void {
    const rejected = decodeConfigRejected(message);
    if (!rejected) {
      log.warn(`invalid websocket frame received from data plane${suffix(ws.data.record)}`);
      ws.close(1002, "invalid websocket frame");
      return;
    }
    ws.data.record.rejected_config = {
      config_hash: rejected.config_hash,
      errors: rejected.errors,
      at: Date.now() / 1000,
    };
    log.error(
      `data plane refused config ${rejected.config_hash}: ${rejected.errors.join("; ")}${suffix(ws.data.record)}`,
    );
    void this.save(ws.data.record);
  }

  private push(ws: ServerWebSocket<Session>, payload: Payload): void {
    const s = ws.data;
    if (!s.plugins) return;
    if (s.verdict?.hash !== payload.hash) {
      s.verdict = {
        hash: payload.hash,
        result: checkPluginCompatibility(payload.pluginsConfigured, this.opts.cpPlugins, s.plugins),
      };
    }
    const problem = s.verdict.result;
    const status: SyncStatus = problem ? problem.status : "normal";
    if (status !== s.record.sync_status) {
      s.record.sync_status = status;
      void this.save(s.record);
    }
    if (problem) {
      log.warn(`unable to send updated configuration to data plane: ${problem.message}${suffix(s.record)}`);
      return;
    }
    if (payload.frame.byteLength > this.opts.maxPayload) {
      log.error(
        `config ${payload.hash} is ${payload.frame.byteLength} bytes compressed, over cluster_max_payload (${this.opts.maxPayload}): raise cluster_max_payload on the control plane and the data planes`,
      );
      return;
    }
    ws.send(payload.frame);
  }

  private async save(record: DataPlaneRecord): Promise<void> {
    try {
      await this.opts.persist(record);
    } catch (e) {
      log.error(
        `unable to update clustering data plane status: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  }
}
