"""The control plane's catalog: projects, tokens, services and jobs in SQLite or PostgreSQL.

Every query lives in this package, behind small keyword-only functions that take a Session and never
commit; the caller owns the transaction (see `db.transaction`). Modules: `db` (engines, migrations,
sessions), `models`, `projects`, `tokens`, `services`, `jobs`, plus `columns` (portable column types) and `clock`.
"""
