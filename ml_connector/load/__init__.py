"""The load: write one run's transformed records to Pipedrive exactly once, organizations before persons.

:func:`.run.run_load` runs the pieces, in this order:

- :mod:`.inputs` reads this run's rows, the rows carried over and the rejects;
- :mod:`.known` holds what Pipedrive is known to hold (state files, folded with the journals of
  unfinished loads, repaired by a listing from :mod:`.identity` when the map may be incomplete); of
  what this DAG pushed it holds digests, and :mod:`.pushed` reads values only for rows that changed;
- :mod:`.plan` decides every record, purely: create, update (which fields), or not;
- :mod:`.execute` sends the writes with as many in flight as the plan's burst window and the observed
  latency call for, journalling each success at once, and classifies each result;
- :mod:`.record` writes the plan, the ledger and the summary; :mod:`.state` owns the state files.

Modes: ``incremental`` and ``full_refresh`` plan alike against the values this DAG last pushed (a
full refresh differs upstream: it extracts everything); ``reconcile`` lists Pipedrive and diffs
against what the records actually hold there, so manual edits and deleted records are repaired.

Failures: an exhausted daily budget stops the writes and defers the rest without failing the task; a
failed write of one record (validation, retries exhausted) is recorded and carried over to the next
run; an edge block or a rejected credential ends the task after the state is saved. A process killed
mid-load leaves its journal, and the re-run resumes from it with no duplicate and no gap.

Nothing is imported here, so the pure plan can be used without the rest (or Airflow).
"""
