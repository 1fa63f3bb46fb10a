"""Where a run's files and the connector's state live, and how they are written.

- :mod:`.files`: the one place that names every stage file and state file (typed readers and writers);
- :mod:`.area`: the storage itself (local or object storage), generic Parquet/JSON/line I/O;
- :mod:`.atomic`, :mod:`.canonical`, :mod:`.locks`: atomic replacement, canonical JSON, cross-process
  file locks.

Nothing is imported here, so the transform can use canonical JSON without loading Airflow.
"""
