// `asip up --serve echo:7` under load: a clean TAP (see echo_load.ts).
import { echoLoadSuite } from "./echo_load.js";

echoLoadSuite({ name: "a clean TAP", loss: false, pause: false, timeoutMs: 120_000 });
