"""Sample repositories are data for the tests, not tests: their own suites run on copies."""

collect_ignore_glob = ["*/**"]
