// `asip up --serve echo:7` under load: kernel readers that stop for 5 s mid-transfer (see echo_load.ts).
import { echoLoadSuite } from "./echo_load.js";

echoLoadSuite({ name: "kernel readers that stop for 5 s mid-transfer", loss: false, pause: true, timeoutMs: 180_000 });
