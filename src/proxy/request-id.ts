/** Kong-style request ids: 32 lowercase hex characters, drawn from a random pool refilled in bulk (cheap per request). */

const POOL_IDS = 256;
const pool = new Uint8Array(16 * POOL_IDS);
let next = POOL_IDS;
const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

export function requestId(): string {
  if (next === POOL_IDS) {
    crypto.getRandomValues(pool);
    next = 0;
  }
  const at = 16 * next++;
  let id = "";
  for (let i = at; i < at + 16; i++) id += HEX[pool[i]!];
  return id;
}
