"""Airflow hooks: each owns one connection type and how to talk to that system, nothing more."""
