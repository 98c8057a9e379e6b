/** The table of `gw` commands: name, one-line summary, help text, and a lazily loaded implementation. */
import { GW_VERSION, KONG_COMPAT_VERSION } from "../version";

export interface Command {
  name: string;
  summary: string;
  help: string;
  /** Returns the exit code, or -1 for a command that keeps running (a node). */
  run(args: string[]): Promise<number>;
}

const SETTINGS_OPTIONS = `Options:
  -c, --conf FILE        kong.conf-style configuration file (default: /etc/kong/kong.conf, /etc/kong.conf if present)
  --<setting> VALUE      any setting, e.g. --role data_plane --database off (highest precedence)
Environment: KONG_<SETTING> overrides the file, e.g. KONG_ROLE=data_plane.
`;

export const COMMANDS: Command[] = [
  {
    name: "start",
    summary: "start a node (traditional, control_plane or data_plane)",
    help: `Usage: gw start [options]

Starts a node in the role given by the 'role' setting:
  traditional    Admin API + proxy (database = sqlite, postgres, or off with declarative_config)
  control_plane  Admin API + database + cluster listener, no proxy
  data_plane     proxy, no database; config from the control plane, the local cache, declarative_config
                 or fallback storage

${SETTINGS_OPTIONS}`,
    run: async (args) => (await import("./start")).startCommand(args),
  },
  {
    name: "check",
    summary: "validate settings and print every problem",
    help: `Usage: gw check [options]

Loads settings exactly as \`gw start\` would and prints every problem with the setting name and the fix.
Exit status 0 when valid, 1 otherwise.

${SETTINGS_OPTIONS}`,
    run: async (args) => (await import("./check")).checkCommand(args),
  },
  {
    name: "config",
    summary: "declarative config: parse, db_import, db_export",
    help: `Usage: gw config <parse|db_import|db_export> [FILE] [options]

  parse FILE        validate a declarative file (YAML or JSON, _format_version "3.0"); exit 0 when valid
  db_import FILE    import a declarative file into the database (idempotent)
  db_export [FILE]  write the database as a declarative file (default ./kong.yml; refuses to overwrite)

${SETTINGS_OPTIONS}`,
    run: async (args) => (await import("./config")).configCommand(args),
  },
  {
    name: "hybrid",
    summary: "hybrid mode helpers: gen_cert",
    help: `Usage: gw hybrid gen_cert [CERT] [KEY] [--days N]

Generates the shared cluster certificate and key for cluster_mtls = shared: EC P-384, CN kong_clustering,
valid 1095 days unless --days is given. Defaults: ./cluster.crt (0644) and ./cluster.key (0600).
Refuses to overwrite existing files.
`,
    run: async (args) => (await import("./hybrid")).hybridCommand(args),
  },
  {
    name: "migrations",
    summary: "database schema: bootstrap, up, list, reset",
    help: `Usage: gw migrations <bootstrap|up|list|reset> [options]

  bootstrap  create the schema in an empty database
  up         apply pending migrations
  list       show applied and pending migrations
  reset      drop everything gw stored (asks no question: be sure)

${SETTINGS_OPTIONS}`,
    run: async (args) => (await import("./migrations")).migrationsCommand(args),
  },
  {
    name: "version",
    summary: "print the version",
    help: "Usage: gw version\n",
    run: async () => {
      process.stdout.write(
        `gw ${GW_VERSION} (Kong Gateway ${KONG_COMPAT_VERSION} compatible, Bun ${Bun.version})\n`,
      );
      return 0;
    },
  },
];
