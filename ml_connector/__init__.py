"""ml-connector: Workday customer and supplier master data kept in Pipedrive CRM."""

__version__ = "0.1.0"
