// `asip up --serve echo:7` under load: 5% nftables drop both ways (see echo_load.ts).
import { echoLoadSuite } from "./echo_load.js";

echoLoadSuite({ name: "5% nftables drop both ways", loss: true, pause: false, timeoutMs: 300_000 });
