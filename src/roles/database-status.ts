/** Status of nodes with a database: reachability, and readiness once it answers (and the router is built, if any). */
import type { StatusSource } from "../status/server";
import type { Store } from "../store/store";

export function databaseStatus(
  store: Store,
  routerBuilt?: () => boolean,
): Omit<StatusSource, "metrics" | "serverStats"> {
  const reachable = () =>
    store.ping().then(
      () => true,
      () => false,
    );
  return {
    databaseReachable: reachable,
    readiness: async () => {
      if (!(await reachable())) return { ready: false, message: "failed to connect to database" };
      if (routerBuilt && !routerBuilt()) return { ready: false, message: "router builds not yet complete" };
      return { ready: true, message: "ready" };
    },
  };
}
