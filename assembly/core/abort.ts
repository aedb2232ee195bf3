// The mvp build's abort: a plain trap, so the module imports nothing at all
// (asconfig.json, target "mvp": `use: ["abort=assembly/core/abort/trapAbort"]`).
// The release and debug builds keep AssemblyScript's `env.abort` import, which
// the host turns into an Error carrying the message and file:line.

export function trapAbort(
  message: string | null = null,
  fileName: string | null = null,
  lineNumber: u32 = 0,
  columnNumber: u32 = 0,
): void {
  unreachable();
}
