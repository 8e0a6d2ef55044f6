"""Wire schemas shared by the services and the browser app (standard library only)."""
