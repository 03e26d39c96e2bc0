// Preloaded (--import) into the test runner, which passes it on to every test file's process.
// Under --test-force-exit a test file's process exits as soon as its last test ends, while its
// results travel to the runner over a pipe that node writes asynchronously on Linux: the last
// verdicts could still be queued at the exit and were lost without a trace (a run reported 990
// of 991 tests and passed; a lost verdict may be a failure). Blocking writes are done before
// the process exits.
for (const stream of [process.stdout, process.stderr]) stream._handle?.setBlocking?.(true);
