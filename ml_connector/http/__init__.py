"""HTTP mechanisms shared by both hooks: error taxonomy, retry with backoff, and request pacing."""
