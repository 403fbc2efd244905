"""The bounce corpus's public messages (tests/tracking/corpus/public) are data, never tests."""

collect_ignore_glob = ["corpus/public/*"]
