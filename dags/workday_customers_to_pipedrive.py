"""Airflow DAG: Workday customers and their contacts into Pipedrive organizations and persons.

Everything the DAG does is configured in ``include/mappings/customers.yaml``; see the DAG's docs in the UI.
"""

from ml_connector.dag_factory import build_sync_dag, mapping_path

dag = build_sync_dag(mapping_path("customers"))
