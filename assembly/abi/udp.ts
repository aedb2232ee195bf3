// Host-facing exports for udp (re-exported by assembly/index.ts).
export {};
