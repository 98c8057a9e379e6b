/** Kong's DAO errors as the store raises them: code, name, message in Kong's wording, fields, HTTP status. */

/** Kong's `kong/db/errors.lua` codes, names and the HTTP status the Admin API answers with. */
const KINDS = {
  invalid_primary_key: [1, "invalid primary key", 400],
  schema_violation: [2, "schema violation", 400],
  primary_key_violation: [3, "primary key violation", 400],
  foreign_key_violation: [4, "foreign key violation", 400],
  unique_violation: [5, "unique constraint violation", 409],
  not_found: [6, "not found", 404],
  invalid_offset: [7, "invalid offset", 400],
  database_error: [8, "database error", 500],
  invalid_size: [9, "invalid size", 400],
} as const;

export type DaoErrorKind = keyof typeof KINDS;

export class DaoError extends Error {
  readonly code: number;
  readonly kind: DaoErrorKind;
  readonly status: number;

  constructor(
    kind: DaoErrorKind,
    message: string,
    readonly fields?: Record<string, unknown>,
  ) {
    super(message);
    const [code, , status] = KINDS[kind];
    this.kind = kind;
    this.code = code;
    this.status = status;
  }

  /** The Admin API body: `{code, name, message, fields}`; `name` is Kong's error name, not the JS class. */
  toJSON(): Record<string, unknown> {
    const body: Record<string, unknown> = {
      code: this.code,
      name: KINDS[this.kind][1],
      message: this.message,
    };
    if (this.fields) body.fields = this.fields;
    return body;
  }
}

/** Renders a key the way Kong's messages do (penlight `pretty.write(t, "")`): `{name="x"}`, `{service={id="…"}}`. */
export function prettyKey(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value !== "object") return String(value);
  if (Array.isArray(value)) return `{${value.map(prettyKey).join(",")}}`;
  const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1));
  return `{${entries.map(([k, v]) => `${k}=${prettyKey(v)}`).join(",")}}`;
}

export const daoErrors = {
  notFound: (key: Record<string, unknown>) =>
    new DaoError(
      "not_found",
      "id" in key
        ? `could not find the entity with primary key '${prettyKey(key)}'`
        : `could not find the entity with '${prettyKey(key)}'`,
      key,
    ),
  unique: (key: Record<string, unknown>) =>
    new DaoError("unique_violation", `UNIQUE violation detected on '${prettyKey(key)}'`, key),
  primaryKey: (key: Record<string, unknown>) =>
    new DaoError("primary_key_violation", `primary key violation on key '${prettyKey(key)}'`, key),
  invalidReference: (field: string, key: Record<string, unknown>, parent: string) =>
    new DaoError(
      "foreign_key_violation",
      `the foreign key '${prettyKey(key)}' does not reference an existing '${parent}' entity.`,
      { [field]: key },
    ),
  referenced: (parent: string, child: string) =>
    new DaoError(
      "foreign_key_violation",
      `an existing '${child}' entity references this '${parent}' entity`,
      {
        "@referenced_by": child,
      },
    ),
  invalidOffset: (offset: string, reason: string) =>
    new DaoError("invalid_offset", `'${offset}' is not a valid offset: ${reason}`),
  invalidSize: () => new DaoError("invalid_size", "size must be an integer between 1 and 1000"),
  schema: (field: string, problem: string) =>
    new DaoError("schema_violation", `schema violation (${field}: ${problem})`, { [field]: problem }),
  database: (message: string) => new DaoError("database_error", message),
};
