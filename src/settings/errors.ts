/** Setting problems as users read them: the setting, what is wrong, where the value came from, and the fix. */

export interface SettingError {
  setting: string;
  /** Kong's wording where Kong has one (users grep for it), e.g. `cluster_mtls has an invalid value: 'x' (shared, pki)`. */
  problem: string;
  /** Where the value came from: `path:line`, `KONG_ROLE`, `--role`, `default` or `not set`. */
  source: string;
  fix: string;
}

/** Warnings have the same shape: an unknown key in kong.conf, a setting gw accepts but does not act on. */
export type SettingWarning = SettingError;

function formatOne(e: SettingError): string {
  const head = e.problem.startsWith(`${e.setting} `) ? e.problem : `${e.setting}: ${e.problem}`;
  const from = e.source === "default" || e.source === "not set" ? e.source : `from ${e.source}`;
  return `${head} (${from}). Fix: ${e.fix}`;
}

/** One line per problem, for `gw check` and start-up failures. */
export function formatSettingErrors(errors: readonly SettingError[]): string {
  return errors.map(formatOne).join("\n");
}

function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j]! + 1,
        current[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** The closest known name within two edits, for "did you mean" hints on typos. */
export function closestName(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const d = distance(name, candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}
