// A node:test reporter that writes the totals of a run as one JSON line, so
// scripts/test.mjs can add them to the other suites' totals.
export default async function* countReporter(source) {
  let passed = 0, failed = 0, skipped = 0;
  for await (const event of source) {
    const d = event.data;
    if (event.type !== "test:pass" && event.type !== "test:fail") continue;
    if (d.details?.type === "suite") {
      // A skipped suite counts as one skip (its reason is printed by the spec
      // reporter); a suite that failed outside its tests (a hook) counts once.
      if (d.skip) skipped++;
      else if (event.type === "test:fail" && d.details?.error?.failureType !== "subtestsFailed") failed++;
      continue;
    }
    if (d.skip || d.todo) skipped++;
    else if (event.type === "test:pass") passed++;
    else failed++;
  }
  yield JSON.stringify({ passed, failed, skipped }) + "\n";
}
