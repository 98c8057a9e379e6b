/** Kong's DAO errors (`{code, name, message, fields}`) with their HTTP statuses and Kong's message wording. */

export const ERROR_CODES = {
  INVALID_PRIMARY_KEY: 1,
  SCHEMA_VIOLATION: 2,
  PRIMARY_KEY_VIOLATION: 3,
  FOREIGN_KEY_VIOLATION: 4,
  UNIQUE_VIOLATION: 5,
  NOT_FOUND: 6,
  INVALID_OFFSET: 7,
  DATABASE_ERROR: 8,
  INVALID_SIZE: 9,
  INVALID_UNIQUE: 10,
  INVALID_OPTIONS: 11,
  OPERATION_UNSUPPORTED: 12,
  FOREIGN_KEYS_UNRESOLVED: 13,
  DECLARATIVE_CONFIG: 14,
  REFERENCED_BY_OTHERS: 19,
} as const;

const NAMES: Record<number, string> = {
  1: "invalid primary key",
  2: "schema violation",
  3: "primary key violation",
  4: "foreign key violation",
  5: "unique constraint violation",
  6: "not found",
  7: "invalid offset",
  8: "database error",
  9: "invalid size",
  10: "invalid unique %s",
  11: "invalid options",
  12: "operation unsupported",
  13: "foreign keys unresolved",
  14: "invalid declarative configuration",
  19: "referenced by others",
};

const STATUS: Record<number, number> = { 5: 409, 6: 404, 8: 500, 12: 405 };

/** Field errors as Kong nests them: a message per field, records nested, array elements by position. */
export type FieldErrors = { [field: string]: FieldError } & { "@entity"?: string[] };
export type FieldError = string | FieldErrors | (FieldError | null)[];

/** The JSON body Kong answers with (and decK/go-kong read `message` from). */
export interface KongErrorBody {
  code: number;
  name: string;
  message: string;
  fields?: Record<string, unknown>;
  options?: Record<string, unknown>;
}

/** A Kong DAO error; `status` is the HTTP status the Admin API answers with. */
export class EntityError extends Error {
  readonly status: number;
  constructor(readonly body: KongErrorBody) {
    super(body.message);
    this.name = "EntityError";
    this.status = STATUS[body.code] ?? 400;
  }
}

function make(
  code: number,
  message: string,
  fields?: Record<string, unknown>,
  name = NAMES[code]!,
): EntityError {
  return new EntityError(fields === undefined ? { code, name, message } : { code, name, message, fields });
}

/** Kong's `pl.pretty` rendering of a key table: `{name="x"}`, `{id="…",port=80}`, nulls as `null`. */
export function prettyKey(key: Record<string, unknown>): string {
  const parts = Object.entries(key).map(([k, v]) => {
    if (v === null || v === undefined) return `${k}=null`;
    if (typeof v === "string") return `${k}="${v}"`;
    if (typeof v === "object") return `${k}=${prettyKey(v as Record<string, unknown>)}`;
    return `${k}=${String(v)}`;
  });
  return `{${parts.join(",")}}`;
}

/** `field: message` lines, entity-level first, then fields in byte order; nested paths dotted, arrays 1-based. */
export function violationLines(fields: FieldErrors): string[] {
  const lines = [...(fields["@entity"] ?? [])];
  const walk = (prefix: string, value: FieldError | null | undefined) => {
    if (value === null || value === undefined) return;
    if (typeof value === "string") {
      lines.push(`${prefix}: ${value}`);
    } else if (Array.isArray(value)) {
      value.forEach((v, i) => {
        walk(`${prefix}.${i + 1}`, v);
      });
    } else {
      for (const k of Object.keys(value).sort()) {
        if (k === "@entity") for (const m of value[k] ?? []) lines.push(`${prefix}: ${m}`);
        else walk(`${prefix}.${k}`, value[k]);
      }
    }
  };
  for (const k of Object.keys(fields).sort()) if (k !== "@entity") walk(k, fields[k]);
  return lines;
}

export function schemaViolation(fields: FieldErrors): EntityError {
  const lines = violationLines(fields);
  const message =
    lines.length === 1
      ? `schema violation (${lines[0]})`
      : `${lines.length} schema violations (${lines.join("; ")})`;
  return make(ERROR_CODES.SCHEMA_VIOLATION, message, fields);
}

export function invalidPrimaryKey(pk: Record<string, unknown>): EntityError {
  return make(ERROR_CODES.INVALID_PRIMARY_KEY, `invalid primary key: '${prettyKey(pk)}'`, pk);
}

export function primaryKeyViolation(pk: Record<string, unknown>): EntityError {
  return make(ERROR_CODES.PRIMARY_KEY_VIOLATION, `primary key violation on key '${prettyKey(pk)}'`, pk);
}

/** A child points at a parent that does not exist, e.g. a route's `service`. */
export function foreignKeyViolation(
  field: string,
  key: Record<string, unknown>,
  parent: string,
): EntityError {
  return make(
    ERROR_CODES.FOREIGN_KEY_VIOLATION,
    `the foreign key '${prettyKey(key)}' does not reference an existing '${parent}' entity.`,
    { [field]: key },
  );
}

/** Deleting a parent that children still reference without cascade (Kong's `foreign_key_violation_restricted`). */
export function referencedByOthers(parent: string, child: string): EntityError {
  return make(
    ERROR_CODES.FOREIGN_KEY_VIOLATION,
    `an existing '${child}' entity references this '${parent}' entity`,
    {
      "@referenced_by": child,
    },
  );
}

/** A CA certificate still listed in a service's or plugin's `ca_certificates` (Kong's code 19). */
export function caCertificateReferenced(caId: string, entity: string, referrerId: string): EntityError {
  return make(
    ERROR_CODES.REFERENCED_BY_OTHERS,
    `ca certificate ${caId} is still referenced by ${entity} (id = ${referrerId})`,
  );
}

export function uniqueViolation(key: Record<string, unknown>): EntityError {
  return make(ERROR_CODES.UNIQUE_VIOLATION, `UNIQUE violation detected on '${prettyKey(key)}'`, key);
}

export function notFound(pk: Record<string, unknown>): EntityError {
  return make(ERROR_CODES.NOT_FOUND, `could not find the entity with primary key '${prettyKey(pk)}'`, pk);
}

export function notFoundByField(filter: Record<string, unknown>): EntityError {
  return make(ERROR_CODES.NOT_FOUND, `could not find the entity with '${prettyKey(filter)}'`, filter);
}

export function invalidOffset(offset: string, err: string): EntityError {
  return make(ERROR_CODES.INVALID_OFFSET, `'${offset}' is not a valid offset: ${err}`);
}

export function invalidSize(message = "size must be an integer between 1 and 1000"): EntityError {
  return make(ERROR_CODES.INVALID_SIZE, message);
}

export function invalidUnique(field: string, message: string): EntityError {
  return make(ERROR_CODES.INVALID_UNIQUE, message, undefined, `invalid unique ${field}`);
}

export function databaseError(message = "database error"): EntityError {
  return make(ERROR_CODES.DATABASE_ERROR, message);
}

export function operationUnsupported(message: string): EntityError {
  return make(ERROR_CODES.OPERATION_UNSUPPORTED, message);
}

/** Kong answers option errors under `options`, not `fields`. */
export function invalidOptions(options: Record<string, string>): EntityError {
  const lines = Object.keys(options)
    .sort()
    .map((k) => `${k}: ${options[k]}`);
  const message =
    lines.length === 1
      ? `invalid option (${lines[0]})`
      : `${lines.length} option violations (${lines.join("; ")})`;
  return new EntityError({ code: ERROR_CODES.INVALID_OPTIONS, name: NAMES[11]!, message, options });
}

/** Declarative config errors: the flattened field errors of every entity (Kong's code 14). */
export function declarativeConfigError(
  fields: Record<string, unknown>,
  lines: readonly string[],
): EntityError {
  const message =
    lines.length === 1
      ? `declarative config is invalid: ${lines[0]}`
      : `declarative config is invalid: ${lines.length} errors: ${lines.join("; ")}`;
  return make(ERROR_CODES.DECLARATIVE_CONFIG, message, fields);
}
