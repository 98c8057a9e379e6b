/** The cluster certificate, key and CA a hybrid node uses, read once from the settings (path, PEM or base64 PEM). */
import type { Settings } from "../settings";
import { pemOrThrow } from "../settings/pem";
import { StartupError } from "./startup-error";

export interface ClusterCerts {
  certPem: string;
  keyPem: string;
  caPem: string | undefined;
}

export function clusterCerts(s: Settings): ClusterCerts {
  if (!s.cluster_cert || !s.cluster_cert_key) {
    throw new StartupError(["cluster certificate and key must be provided to use Hybrid mode"]);
  }
  return {
    certPem: pemOrThrow(s.cluster_cert, "certificate", "cluster_cert"),
    keyPem: pemOrThrow(s.cluster_cert_key, "key", "cluster_cert_key"),
    caPem: s.cluster_ca_cert ? pemOrThrow(s.cluster_ca_cert, "certificate", "cluster_ca_cert") : undefined,
  };
}
