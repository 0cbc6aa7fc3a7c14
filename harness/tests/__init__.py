# Tests of the harness itself (parser, targets, reports, plugin); they need no
# kernel build. See docs/harness.md.
