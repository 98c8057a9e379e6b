/** `gw` entry point: dispatches to a command; each command module is loaded only when it runs. */
import { GW_VERSION } from "../version";
import { COMMANDS, type Command } from "./commands";

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return `Usage: gw [command] [options]

An API gateway compatible with Kong Gateway (hybrid mode, Admin API, declarative config).
Without a command, gw starts a node (same as \`gw start\`).

Commands:
${lines.join("\n")}

Settings come from defaults < kong.conf (-c FILE) < KONG_* environment variables < --<setting> flags.
Run \`gw help <command>\` for a command's options.
`;
}

function find(name: string | undefined): Command | undefined {
  return COMMANDS.find((c) => c.name === name);
}

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === "--help" || first === "-h") {
    process.stdout.write(usage());
    return 0;
  }
  if (first === "--version" || first === "-v") {
    process.stdout.write(`${GW_VERSION}\n`);
    return 0;
  }
  if (first === "help") {
    const command = find(rest[0]);
    process.stdout.write(command ? command.help : usage());
    return command || rest.length === 0 ? 0 : 1;
  }
  const command = first === undefined || first.startsWith("-") ? find("start") : find(first);
  if (!command) {
    process.stderr.write(`Error: unknown command '${first}'\n\n${usage()}`);
    return 1;
  }
  const args = command.name === "start" && first !== "start" ? argv : rest;
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(command.help);
    return 0;
  }
  return await command.run(args);
}

main(process.argv.slice(2)).then(
  (code) => {
    // `start` keeps running through its servers; the other commands end here.
    if (code !== -1) process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(`Error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
