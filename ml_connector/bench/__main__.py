"""``python -m ml_connector.bench`` (guarded: the task workers import the main module too)."""

if __name__ == "__main__":
    from ml_connector.bench.cli import main

    raise SystemExit(main())
