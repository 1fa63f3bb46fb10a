"""The Airflow UI page "Workday → Pipedrive": recent runs, token usage and a record's history, read from
the ledger. :mod:`.plugin` registers it with Airflow; :mod:`.app` is the page's FastAPI app."""
