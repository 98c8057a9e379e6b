/** Runs firebase-tools' storage emulator HTTP app alone, without the rules runtime (it needs Java 21 and a download). */
// Relies on firebase-tools internals (lib/emulator/...): package.json pins firebase-tools 15.34.2.
const http = require("node:http");
const { StorageEmulator } = require("firebase-tools/lib/emulator/storage");
const { createApp } = require("firebase-tools/lib/emulator/storage/server");
const { EmulatorRegistry } = require("firebase-tools/lib/emulator/registry");

const HOST = "127.0.0.1";
let app;
// Listen first so port 0 works: the emulator builds upload URLs from the port it is told, so it must know the real one.
const server = http.createServer((req, res) => app(req, res));
server.listen(Number(process.env.PORT || 0), HOST, async () => {
  const { port } = server.address();
  const emulator = new StorageEmulator({
    projectId: "demo-gw",
    host: HOST,
    port,
    rules: undefined,
    auto_download: false,
  });
  EmulatorRegistry.set("storage", emulator);
  app = await createApp("demo-gw", emulator);
  process.stdout.write(`gcs emulator listening on port ${port}\n`);
});
// The test that started us holds our stdin open; when it goes away, so do we.
process.stdin.on("close", () => process.exit(0)).resume();
