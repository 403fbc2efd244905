"""Results: statistics, counters, charts, progress and estimates."""
