/** `gw hybrid gen_cert [CERT] [KEY] [--days N]`. */
import { genCertCommand } from "../cluster/tls/certs";

export async function hybridCommand(args: string[]): Promise<number> {
  const [verb, ...rest] = args;
  if (verb !== "gen_cert") {
    process.stderr.write(`Error: unknown hybrid command '${verb ?? ""}' (expected gen_cert)\n`);
    return 1;
  }
  return await genCertCommand(rest);
}
