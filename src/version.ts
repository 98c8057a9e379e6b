/** Version identifiers: gw's own release, and the Kong release whose behaviour it mirrors. */

/** gw's release; data planes report it to control planes, which apply Kong's major/minor compatibility rule to it. */
export const GW_VERSION = "3.10.0";

/** The Kong Gateway version gw presents to Kong tooling (decK reads `version` from `GET /`). */
export const KONG_COMPAT_VERSION = "3.10.0";

/** Used in `Via` and `Server` headers, as Kong does with `kong/<version>`. */
export const SERVER_TOKEN = `kong/${KONG_COMPAT_VERSION}`;
