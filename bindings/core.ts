/**
 * Loading the core: one WebAssembly instance of asip's AssemblyScript core.
 *
 * The core imports nothing but `env.abort` (release and debug builds; the mvp
 * build imports nothing). The abort hook turns an AssemblyScript abort into a
 * JavaScript Error carrying the message and file:line.
 *
 * @module
 */

/** Which build of the core to load. */
import { nodeImport } from "./host.js";
/**
 * "ipv4" is the release build without IPv6 (ASIP_IPV6=0), the IPv4-only
 * profile: the host APIs' answers on a core without IPv6 (EAFNOSUPPORT,
 * '::' listening on IPv4) are tested against it.
 */
export type CoreVariant = "release" | "mvp" | "ipv4" | "debug";

/** File name of each variant under build/. */
export const CORE_FILES: Record<CoreVariant, string> = {
  release: "asip.wasm",
  mvp: "asip-mvp.wasm",
  ipv4: "asip-ipv4.wasm",
  debug: "asip-debug.wasm",
};

/** Raised when the core aborts (an assertion inside the core failed). */
export class CoreAbortError extends Error {
  constructor(message: string, readonly file: string, readonly line: number, readonly column: number) {
    super(`asip core aborted: ${message} at ${file}:${line}:${column}`);
    this.name = "CoreAbortError";
  }
}

/** An instantiated core. */
export interface Core {
  readonly variant: CoreVariant;
  readonly instance: WebAssembly.Instance;
  /** The core's exports (see docs/abi.md). */
  readonly exports: Record<string, any>;
  readonly memory: WebAssembly.Memory;
}

/** Reads an AssemblyScript string (UTF-16, byte length at ptr - 4) from memory. */
export function readAsString(memory: WebAssembly.Memory, ptr: number): string {
  if (!ptr) return "";
  const buf = memory.buffer;
  const bytes = new Uint32Array(buf, ptr - 4, 1)[0];
  return String.fromCharCode(...new Uint16Array(buf, ptr, bytes >>> 1));
}

const moduleCache = new Map<CoreVariant, Promise<WebAssembly.Module>>();

async function fetchBytes(variant: CoreVariant): Promise<ArrayBuffer | Uint8Array> {
  const url = new URL(`../../build/${CORE_FILES[variant]}`, import.meta.url);
  if (url.protocol === "file:") {
    const { readFile } = await nodeImport<typeof import("node:fs/promises")>("node:fs/promises");
    return readFile(url);
  }
  const res = await fetch(url);
  if (!res.ok) throw new Error(`cannot fetch ${url}: ${res.status}`);
  return res.arrayBuffer();
}

/** Compiles a variant once per process and caches the module. */
export function compileCore(variant: CoreVariant = "release", bytes?: BufferSource): Promise<WebAssembly.Module> {
  let m = moduleCache.get(variant);
  if (!m || bytes) {
    m = (async () => WebAssembly.compile(bytes ?? (await fetchBytes(variant)) as BufferSource))();
    if (!bytes) moduleCache.set(variant, m);
  }
  return m;
}

/** Instantiates a fresh core. Every Stack has its own. */
export async function loadCore(variant: CoreVariant = "release", bytes?: BufferSource): Promise<Core> {
  const module = await compileCore(variant, bytes);
  let memory: WebAssembly.Memory | undefined;
  const imports: WebAssembly.Imports = {
    env: {
      abort(msg: number, file: number, line: number, column: number): never {
        const m = memory ? readAsString(memory, msg) : "";
        const f = memory ? readAsString(memory, file) : "";
        throw new CoreAbortError(m, f, line, column);
      },
    },
  };
  const instance = await WebAssembly.instantiate(module, imports);
  const exports = instance.exports as Record<string, any>;
  memory = exports.memory as WebAssembly.Memory;
  return { variant, instance, exports, memory };
}
