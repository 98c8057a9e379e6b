/** Admin API error bodies in Kong's shapes: DAO errors `{code, name, message, fields}` and generic `{message}`. */
import type { Context } from "hono";
import { EntityError } from "../entities/errors";
import { logger } from "../log/logger";
import { BodyError } from "./body";

const log = logger("admin");

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export const notFound = () => new HttpError(404, "Not found");

export function errorResponse(c: Context, e: unknown): Response {
  if (e instanceof EntityError) return c.json(e.body, e.status as 400);
  if (e instanceof HttpError) return c.json({ message: e.message }, e.status as 400);
  if (e instanceof BodyError) return c.json({ message: e.message }, 400);
  log.error(
    `unexpected error on ${c.req.method} ${c.req.path}: ${e instanceof Error ? e.message : String(e)}`,
  );
  return c.json({ message: "An unexpected error occurred" }, 500);
}
