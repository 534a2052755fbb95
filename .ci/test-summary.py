#!/usr/bin/env python3
"""Filter for `make test`: passes cargo's output through and ends it with one summary line.

The tests run with `-- --show-output`, so libtest also prints what each passing test wrote.
That is how a test that skips (its service unreachable, no KUBECONFIG) is seen at all:
cargo hides a passing test's output otherwise. This filter drops those "successes:"
sections again, keeping only their `skipped: <reason>` lines, named after their test, and
then counts: a test that printed `skipped:` is counted as skipped, not passed. The Helm
chart's checks (.ci/chart-test.sh, `chart check <name> ... ok|FAILED`) count as tests of
their own "binary", `chart`.

The exit status is always 0: `make test` takes its status from its commands (`set -o pipefail`).
"""

import re
import sys

ANSI = re.compile(r"\x1b\[[0-9;]*m")
RESULT = re.compile(
    r"^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored; (\d+) measured"
)
STDOUT_HEADER = re.compile(r"^---- (.+) stdout ----$")
# `Running tests/stores.rs (target/debug/deps/stores-0123abcd)`: the binary, less its hash.
RUNNING = re.compile(r"^\s*Running .*\(.*/([^/]+?)(-[0-9a-f]+)?\)$")
CHART_CHECK = re.compile(r"^chart check (\S+) \.\.\. (ok|FAILED)$")


def main() -> None:
    passed = failed = ignored = binaries = 0
    skipped = []  # (binary, test, reason)
    in_successes = False
    binary = test = "?"
    failed_binaries = build_errors = 0
    chart_binary = False
    for raw in sys.stdin:
        line = ANSI.sub("", raw.rstrip("\n"))
        if in_successes:
            if line == "failures:" or line.startswith("test result:"):
                in_successes = False
            else:
                header = STDOUT_HEADER.match(line)
                if header:
                    test = header.group(1)
                elif line.strip().startswith("skipped:"):
                    reason = line.strip()[len("skipped:") :].strip()
                    if (binary, test, reason) not in skipped:
                        skipped.append((binary, test, reason))
                        print(f"skipped: {binary}: {test}: {reason}", flush=True)
                continue
        elif line == "successes:":
            in_successes = True
            test = "?"
            continue
        running = RUNNING.match(line)
        result = RESULT.match(line)
        chart_check = CHART_CHECK.match(line)
        if chart_check:
            if not chart_binary:
                chart_binary = True
                binaries += 1
            if chart_check.group(2) == "ok":
                passed += 1
            else:
                failed += 1
        elif running:
            binary = running.group(1)
        elif result:
            binaries += 1
            passed += int(result.group(1))
            failed += int(result.group(2))
            ignored += int(result.group(3))
        elif line.startswith("error: test failed, to rerun pass"):
            # Also a test binary that crashed, whose failed tests were never counted.
            failed_binaries += 1
        elif line.startswith("error: could not compile"):
            build_errors += 1
        print(raw, end="", flush=True)

    skipped_tests = {(b, t) for b, t, _ in skipped}
    summary = (
        f"test summary: {passed - len(skipped_tests)} passed, {failed} failed, "
        f"{len(skipped_tests)} skipped, {ignored} ignored, in {binaries} test binaries"
    )
    if failed_binaries:
        summary += f"; {failed_binaries} test binaries failed"
    if build_errors:
        summary += f"; {build_errors} crates did not compile"
    print()
    if skipped:
        print(f"Skipped ({len(skipped_tests)}):")
        for binary, test, reason in skipped:
            print(f"  {binary}: {test}: {reason}")
    print(summary, flush=True)


if __name__ == "__main__":
    main()
