// Host-facing exports for raw (re-exported by assembly/index.ts).
export {};
