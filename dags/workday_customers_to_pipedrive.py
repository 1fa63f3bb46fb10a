"""Airflow DAG: Workday customers and their contacts into Pipedrive organizations and persons.

Everything the DAG does is configured in ``customers.yaml``, found in ``$ML_CONNECTOR_MAPPINGS_DIR``, else in
``include/mappings/`` beside this DAG folder, else among the package's defaults; see the DAG's docs in the UI.
"""

from ml_connector.dag.factory import build_sync_dag, mapping_path

dag = build_sync_dag(mapping_path("customers", __file__))
