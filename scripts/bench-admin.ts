/**
 * Measures db_import of 10k and 100k entities (the whole command: YAML parse + store, and the store alone), re-import,
 * export, and single inserts per second, on SQLite and PostgreSQL.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SQL } from "bun";
import type { StoreSettings } from "../src/store/connect";
import { dbImport } from "../src/store/import-export";
import { openStore } from "../src/store/index";
import { migrationsCommand } from "../src/store/migrations";
import type { ConfigTable, Store } from "../src/store/store";

const PG = {
  hostname: process.env.PGHOST ?? "127.0.0.1",
  port: Number(process.env.PGPORT ?? 5432),
  username: "postgres",
};
const SIZES = (process.env.BENCH_SIZES ?? "10000,100000").split(",").map(Number);
const INSERTS = Number(process.env.BENCH_INSERTS ?? 2000);
const BACKENDS = (process.env.BENCH_BACKENDS ?? "sqlite,postgres").split(",");

/** A Kong-shaped config of `total` entities: a quarter each of services, routes, consumers and plugins. */
function config(total: number): ConfigTable {
  const n = Math.floor(total / 4);
  const services = Array.from({ length: n }, (_, i) => ({
    id: crypto.randomUUID(),
    name: `svc-${i}`,
    protocol: "http",
    host: `backend-${i}.internal`,
    port: 80,
    path: null,
    retries: 5,
    connect_timeout: 60000,
    write_timeout: 60000,
    read_timeout: 60000,
    enabled: true,
    tags: [`team-${i % 10}`],
  }));
  const routes = services.map((s, i) => ({
    id: crypto.randomUUID(),
    name: `route-${i}`,
    protocols: ["http", "https"],
    paths: [`/svc/${i}`],
    strip_path: true,
    preserve_host: false,
    regex_priority: 0,
    https_redirect_status_code: 426,
    path_handling: "v0",
    request_buffering: true,
    response_buffering: true,
    service: { id: s.id },
    tags: [`team-${i % 10}`],
  }));
  const consumers = Array.from({ length: n }, (_, i) => ({
    id: crypto.randomUUID(),
    username: `user-${i}`,
    custom_id: null,
  }));
  const plugins = routes.map((r) => ({
    id: crypto.randomUUID(),
    name: "rate-limiting",
    route: { id: r.id },
    service: null,
    consumer: null,
    enabled: true,
    protocols: ["grpc", "grpcs", "http", "https"],
    config: { minute: 100, policy: "local", limit_by: "consumer", fault_tolerant: true },
  }));
  return { _format_version: "3.0", services, routes, consumers, plugins };
}

interface Backend {
  name: string;
  open(): Promise<{ store: Store; cleanup(): Promise<void> }>;
}

const sqlite: Backend = {
  name: "sqlite",
  async open() {
    const prefix = mkdtempSync(join(tmpdir(), "gw-bench-"));
    const store = await openStore({ database: "sqlite", prefix });
    return { store, cleanup: async () => rmSync(prefix, { recursive: true, force: true }) };
  },
};

const postgres: Backend = {
  name: "postgres",
  async open() {
    const database = `gw_bench_${Date.now()}`;
    const admin = new SQL({ ...PG, database: "postgres" });
    await admin.unsafe(`CREATE DATABASE ${database}`);
    const settings: StoreSettings = {
      database: "postgres",
      prefix: tmpdir(),
      pg_host: PG.hostname,
      pg_port: PG.port,
      pg_user: PG.username,
      pg_database: database,
    };
    await migrationsCommand("bootstrap", settings);
    const store = await openStore(settings);
    return {
      store,
      cleanup: async () => {
        await admin.unsafe(`DROP DATABASE ${database} WITH (FORCE)`);
        await admin.close();
      },
    };
  },
};

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const result = await fn();
  return [result, (performance.now() - start) / 1000];
}

/** The same entities as a nested kong.yml, the way users write them (routes and plugins under services). */
function kongYml(table: ConfigTable): string {
  const routes = table.routes as Record<string, unknown>[];
  const plugins = table.plugins as Record<string, unknown>[];
  const services = (table.services as Record<string, unknown>[]).map((svc, i) => {
    const { service: _s, ...route } = routes[i]!;
    const { route: _r, service: _sv, consumer: _c, ...plugin } = plugins[i]!;
    return { ...svc, routes: [{ ...route, plugins: [plugin] }] };
  });
  return Bun.YAML.stringify({ _format_version: "3.0", services, consumers: table.consumers });
}

for (const backend of [sqlite, postgres].filter((b) => BACKENDS.includes(b.name))) {
  for (const size of SIZES) {
    const table = config(size);
    const { store, cleanup } = await backend.open();
    try {
      const [first, seconds] = await timed(() => store.importAll(table));
      const [again, secondsAgain] = await timed(() => store.importAll(table));
      const [, exportSeconds] = await timed(() => store.exportAll());
      console.log(
        `${backend.name} store import ${size} entities: ${seconds.toFixed(2)} s (${first.inserted} inserted), ` +
          `re-import ${secondsAgain.toFixed(2)} s (${again.unchanged} unchanged), export ${exportSeconds.toFixed(2)} s`,
      );
    } finally {
      await store.close();
      await cleanup();
    }
    const yaml = kongYml(table);
    const fresh = await backend.open();
    try {
      const [result, seconds] = await timed(() => dbImport(fresh.store, yaml, "kong.yml"));
      console.log(
        `${backend.name} db_import kong.yml ${size} entities: ${seconds.toFixed(2)} s (${result.inserted} inserted)`,
      );
    } finally {
      await fresh.store.close();
      await fresh.cleanup();
    }
  }
  const { store, cleanup } = await backend.open();
  try {
    const [, seconds] = await timed(async () => {
      for (let i = 0; i < INSERTS; i++) await store.insert("services", { name: `one-${i}`, host: "h" });
    });
    console.log(
      `${backend.name} single inserts: ${Math.round(INSERTS / seconds)} entities/s (${INSERTS} sequential)`,
    );
  } finally {
    await store.close();
    await cleanup();
  }
}
