"""The history database: SQLAlchemy tables, dialects, migrations, search.

The only layer that writes SQL.
"""
