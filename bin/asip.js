#!/usr/bin/env node
// The asip command line: see `asip help`.
import("../dist/bindings/node/cli.js")
  .then((m) => m.main(process.argv.slice(2)))
  .catch((e) => {
    if (e && e.code === "ERR_MODULE_NOT_FOUND") {
      console.error("asip: not built yet — run `npm run build` first");
    } else {
      console.error(`asip: ${e && e.message ? e.message : e}`);
    }
    process.exit(1);
  });
