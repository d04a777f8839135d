"""Alembic's environment for geogrid's store: run the migrations on the connection given.

:func:`geogrid.storage.migrations.upgrade` opens that connection, in a transaction
that holds the store's schema lock, and passes it as ``config.attributes
["connection"]``; there is no ``alembic.ini`` and no URL here. All pending
revisions then run in that one transaction (``transactional_ddl``: the SQLite
dialect begins its transactions explicitly, so DDL is transactional there too).

Offline mode (``alembic upgrade --sql``) is not offered: 0002 reads the reports'
history to move contact details, which needs a database.
"""

from alembic import context

if context.is_offline_mode():
    raise RuntimeError("geogrid's migrations run on a database, not as SQL scripts")

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with geogrid.storage.migrations.upgrade or geogrid db")
context.configure(connection=connection, transactional_ddl=True)
with context.begin_transaction():  # the caller's transaction: nothing is committed here
    context.run_migrations()
