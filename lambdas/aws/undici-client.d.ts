/** undici's Client on its own (leanHttp.ts loads it without the rest of the package), typed as the package types it. */
declare module "undici/lib/dispatcher/client.js" {
  import type { Client } from "undici";

  const ClientClass: typeof Client;
  export default ClientClass;
}
