// as-pect compiles each spec under tests/assembly with its own (GC) runtime;
// the stub-runtime release/mvp builds are tested separately by tests/node.
// The specs build the dual stack (ASIP_IPV6=1 in as-pect.asconfig.json), as
// release and mvp do.
export default {
  entries: ["tests/assembly/**/*.spec.ts"],
  include: ["tests/assembly/**/*.include.ts"],
  disclude: [/node_modules/],
  flags: {
    "--enable": ["simd"],
  },
  async instantiate(memory, createImports, instantiate, binary) {
    return instantiate(binary, createImports({ env: { memory } }));
  },
  outputBinary: false,
};
