"""tenantboard: a live terminal status board for SuperOffice CRM Online tenants."""

__version__ = "0.1.0"
