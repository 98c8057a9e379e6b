/** Kong-style request ids: 32 lowercase hex characters, cut from a random pool refilled in bulk (cheap per request). */

const POOL_IDS = 256;
const ID_CHARS = 32;
const pool = Buffer.alloc((ID_CHARS / 2) * POOL_IDS);
let hex = "";
let next = POOL_IDS;

export function requestId(): string {
  if (next === POOL_IDS) {
    crypto.getRandomValues(pool);
    // One hex encoding per refill; each id is then a flat substring, not a 16-part concatenation.
    hex = pool.toString("hex");
    next = 0;
  }
  const at = ID_CHARS * next++;
  return hex.slice(at, at + ID_CHARS);
}
