/** A start-up failure the user can fix: printed as its lines, without a stack trace, exit status 1. */
export class StartupError extends Error {
  constructor(readonly lines: string[]) {
    super(lines.join("\n"));
  }
}
