"""Named exit codes (DESIGN.md "The command line"; first match wins)."""

OK = 0  # nothing to report, or reporting asked for no failure
SUSPECTS = 1  # suspects found and --fail-on-suspects
USAGE = 2  # usage or config error
INPUT_SKIPPED = 3  # some input skipped and --strict
NO_DATA = 4  # nothing usable (no dump could be read) or an output could not be written
INTERNAL = 5  # goroscope itself failed outside any one input (a crash file holds the traceback); never 1
FAILED = NO_DATA  # any other goroscope error: nothing usable came out
