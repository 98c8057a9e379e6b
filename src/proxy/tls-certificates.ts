/** Kong's certificate selection on the TLS proxy listener: the `snis` entity naming the client's server name picks the certificate. */
import { createSecureContext } from "node:tls";
import { logger } from "../log/logger";

const log = logger("kong");

/** The fields of a `certificates` entity the listener presents. */
export interface CertificateRow {
  id: string;
  cert: string;
  key: string;
  cert_alt?: string | null;
  key_alt?: string | null;
}

/** The part of the running config that selects certificates (a ConfigTable is one). */
export interface CertificateTable {
  certificates: readonly CertificateRow[];
  snis: readonly { name: string; certificate: { id: string } }[];
}

/** Kong's catch-all SNI: it serves any client that sent a server name no other SNI matched. */
const ANY_SNI = "*";

/**
 * The SNI names Kong looks up for a server name, in its order: the name itself, `*.` for its first label
 * (only with three labels or more), `.*` for its last one, then `*`. Kong compares names as sent, case and all.
 */
export function sniCandidates(servername: string): string[] {
  const out = [servername];
  if (!servername.includes("*")) {
    const prefix = wildcardFirstLabel(servername);
    if (prefix !== null) out.push(prefix);
    const suffix = wildcardLastLabel(servername);
    if (suffix !== null) out.push(suffix);
  }
  if (servername !== ANY_SNI) out.push(ANY_SNI);
  return out;
}

/** `www.example.com` → `*.example.com`; null for `example.com` (Kong's `([^.]+)(\.[^.]+\.\S+)`). */
function wildcardFirstLabel(name: string): string | null {
  const first = name.indexOf(".");
  if (first <= 0) return null;
  const second = name.indexOf(".", first + 1);
  if (second <= first + 1 || second === name.length - 1) return null;
  return `*${name.slice(first)}`;
}

/** `example.com` → `example.*` (Kong's `([^.]+\.)([^.]+)$`). */
function wildcardLastLabel(name: string): string | null {
  const last = name.lastIndexOf(".");
  if (last <= 0 || last === name.length - 1 || name[last - 1] === ".") return null;
  return `${name.slice(0, last + 1)}*`;
}

/** A native TLS context (`tls.createSecureContext(...).context`), or null when the certificate's PEM would not load. */
type NativeContext = object | null;

/**
 * The certificate for a server name in the config running at handshake time, so pushes and Admin API writes
 * take effect on the next handshake. Contexts are built on first use and kept while their certificate is unchanged.
 */
export class SniCertificates {
  private table: CertificateTable | null = null;
  private bySni = new Map<string, CertificateRow>();
  private readonly contexts = new Map<string, { row: CertificateRow; context: NativeContext }>();

  constructor(private readonly current: () => CertificateTable | null) {}

  /** The certificate Kong would present for this server name; null means the listener's default one. */
  find(servername: string): CertificateRow | null {
    const table = this.current();
    if (table !== this.table) this.swap(table);
    if (this.bySni.size === 0) return null;
    for (const name of sniCandidates(servername)) {
      const row = this.bySni.get(name);
      if (row !== undefined) return row;
    }
    return null;
  }

  /** The native context to present, or undefined for the default certificate (also when the entity's PEM is bad). */
  contextFor(servername: string): object | undefined {
    const row = this.find(servername);
    if (row === null) return undefined;
    let entry = this.contexts.get(row.id);
    if (entry === undefined) {
      entry = { row, context: loadContext(row, servername) };
      this.contexts.set(row.id, entry);
    }
    return entry.context ?? undefined;
  }

  private swap(table: CertificateTable | null): void {
    this.table = table;
    const byId = new Map((table?.certificates ?? []).map((c) => [c.id, c]));
    this.bySni = new Map();
    for (const sni of table?.snis ?? []) {
      const row = byId.get(sni.certificate.id);
      if (row !== undefined) this.bySni.set(sni.name, row);
    }
    for (const [id, entry] of this.contexts) {
      const row = byId.get(id);
      if (row === undefined || !samePem(row, entry.row)) this.contexts.delete(id);
      else entry.row = row;
    }
  }
}

function samePem(a: CertificateRow, b: CertificateRow): boolean {
  return a.cert === b.cert && a.key === b.key && a.cert_alt === b.cert_alt && a.key_alt === b.key_alt;
}

/** Both pairs when the entity has an alternate (RSA and ECDSA): OpenSSL picks the one the client's ciphers allow. */
function loadContext(row: CertificateRow, servername: string): NativeContext {
  const alt = row.cert_alt && row.key_alt;
  try {
    const secure = createSecureContext({
      cert: alt ? [row.cert, row.cert_alt as string] : row.cert,
      key: alt ? [row.key, row.key_alt as string] : row.key,
    });
    return secure.context as object;
  } catch (e) {
    log.error(
      `could not load certificate ${row.id} for SNI '${servername}' (${e instanceof Error ? e.message : String(e)}): serving the default certificate`,
    );
    return null;
  }
}
