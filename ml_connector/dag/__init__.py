"""The Airflow side: the DAG factory, the task bodies it wires together, and the context of one run."""
