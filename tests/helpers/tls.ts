// A throwaway certificate for the tests that run node:tls over asip.
import { Buffer } from "node:buffer";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

let cached: { key: Buffer; cert: Buffer } | undefined;

/**
 * A fresh self-signed P-256 certificate for CN=asip.test (test only), made
 * by openssl once per process; without openssl, the test-only fixture in
 * tests/fixtures/.
 */
export function testCert(): { key: Buffer; cert: Buffer } {
  if (cached) return cached;
  const dir = mkdtempSync(path.join(tmpdir(), "asip-tls-"));
  try {
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
      "-keyout", path.join(dir, "key.pem"), "-out", path.join(dir, "cert.pem"), "-days", "2", "-subj", "/CN=asip.test",
      "-addext", "subjectAltName=DNS:asip.test"], { stdio: "ignore" });
    cached = { key: readFileSync(path.join(dir, "key.pem")), cert: readFileSync(path.join(dir, "cert.pem")) };
  } catch {
    const fx = path.resolve("tests/fixtures");
    if (!existsSync(path.join(fx, "test-only-key.pem"))) throw new Error("no openssl and no tests/fixtures/test-only-*.pem");
    cached = { key: readFileSync(path.join(fx, "test-only-key.pem")), cert: readFileSync(path.join(fx, "test-only-cert.pem")) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return cached;
}
