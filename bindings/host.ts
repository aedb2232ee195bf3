/**
 * `nodeImport("node:fs")`: a dynamic import of a Node.js built-in that
 * browser bundlers leave alone. A dynamic import with a literal specifier inside a
 * Node-only branch is still seen by Vite/Rollup when bundling for the
 * browser, which then stubs or externalizes the module (and warns); a
 * specifier the bundler cannot see keeps the browser entry free of `node:`
 * modules (tests/node/browser_entry.test.ts checks it).
 *
 * @module
 */

/** Imports a `node:` built-in at run time (Node.js only). */
export function nodeImport<T = any>(specifier: `node:${string}`): Promise<T> {
  return import(/* @vite-ignore */ specifier) as Promise<T>;
}
