// Vite config of the web demo (`npx vite build web-demo`).
//
// The core is served as a file, never inlined (assetsInlineLimit excludes
// .wasm). bindings/core.ts finds it with a URL computed from the variant
// name; Vite can only bundle `new URL("literal", import.meta.url)`, so the
// plugin below turns that one expression into a table of literal URLs (one
// per build of the core) and fails the build if core.ts stops matching.
import { defineConfig } from "vite";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..");

function asipWasm() {
  const expr = "new URL(`../../build/${CORE_FILES[variant]}`, import.meta.url)";
  return {
    name: "asip-wasm",
    enforce: "pre",
    transform(code, id) {
      if (!/[\\/]bindings[\\/]core\.ts$/.test(id)) return null;
      if (!code.includes(expr)) this.error("asip-wasm: bindings/core.ts no longer builds its URL as expected; update web-demo/vite.config.mjs");
      let rel = path.relative(path.dirname(id), path.join(root, "build")).split(path.sep).join("/");
      if (!rel.startsWith(".")) rel = `./${rel}`;
      const table = `({ release: new URL("${rel}/asip.wasm", import.meta.url), mvp: new URL("${rel}/asip-mvp.wasm", import.meta.url), debug: new URL("${rel}/asip-debug.wasm", import.meta.url) })[variant]`;
      return { code: code.replace(expr, table), map: null };
    },
  };
}

export default defineConfig({
  root: here,
  base: "./",
  plugins: [asipWasm()],
  // The stack's module Worker (bindings/worker/core-worker.ts) is bundled on its own, with the same core URL fix.
  worker: { format: "es", plugins: () => [asipWasm()] },
  resolve: {
    alias: {
      "node:events": path.join(here, "shims/events.js"),
      "node:buffer": path.join(here, "shims/buffer.js"),
    },
  },
  build: {
    outDir: path.join(here, "dist"),
    emptyOutDir: true,
    target: "es2022",
    // Never inline the core: it is compiled with WebAssembly.compile from a fetch.
    assetsInlineLimit: (file) => (file.endsWith(".wasm") ? false : undefined),
  },
  server: { fs: { allow: [root] } },
});
