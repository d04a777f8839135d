"""Baseline: the schema of the release before migrations, exactly as that release made it.

Every statement only creates what is missing (``IF NOT EXISTS``, ``OR IGNORE``,
``ON CONFLICT DO NOTHING``), as that release's did on every start, so a store
made by any earlier release passes through unchanged and a new store gets all
of it. The SQL is frozen here on purpose: later code may change its constants,
but this revision must always make the same schema.

Downgrade raises: it would drop every table, and with them every report.

Revision ID: 0001
Revises:
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None
#: Creates only what is missing, in one transaction.
online_safe = True

LEVELS = 6  # code0 … code5
CODE_COLUMNS = ", ".join(f"code{d} TEXT" for d in range(LEVELS))
CODE_INDEXES = [
    f"CREATE INDEX IF NOT EXISTS reports_code{d} ON reports (code{d}, status, deadline, id) "
    f"WHERE code{d} IS NOT NULL"
    for d in range(LEVELS)
]

SQLITE = [
    """CREATE TABLE IF NOT EXISTS generations (
    id INTEGER PRIMARY KEY, label TEXT NOT NULL, created_at TEXT NOT NULL, levels TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    active_generation INTEGER REFERENCES generations (id))""",
    "INSERT OR IGNORE INTO state (id, active_generation) VALUES (1, NULL)",
    """CREATE TABLE IF NOT EXISTS grids (
    generation_id INTEGER NOT NULL REFERENCES generations (id), depth INTEGER NOT NULL,
    level TEXT NOT NULL, code TEXT NOT NULL, name TEXT, parent TEXT, attributes TEXT,
    geometry BLOB NOT NULL, PRIMARY KEY (generation_id, depth, code))""",
    "CREATE INDEX IF NOT EXISTS grids_code ON grids (code)",
    """CREATE TABLE IF NOT EXISTS generation_roads (
    generation_id INTEGER NOT NULL REFERENCES generations (id), position INTEGER NOT NULL,
    name TEXT, kind TEXT, geometry BLOB NOT NULL, PRIMARY KEY (generation_id, position))""",
    f"""CREATE TABLE IF NOT EXISTS reports (
    id INTEGER PRIMARY KEY, external_id TEXT UNIQUE, content_key TEXT NOT NULL,
    source TEXT NOT NULL, category TEXT NOT NULL, description TEXT,
    reported_at TEXT NOT NULL, received_at TEXT NOT NULL,
    received_lon REAL NOT NULL, received_lat REAL NOT NULL, received_crs TEXT NOT NULL,
    lon REAL NOT NULL, lat REAL NOT NULL,
    generation_id INTEGER REFERENCES generations (id), assignment TEXT NOT NULL, distance_m REAL,
    {CODE_COLUMNS},
    status TEXT NOT NULL, handler_depth INTEGER, handler_code TEXT, deadline TEXT,
    updated_at TEXT NOT NULL)""",
    *CODE_INDEXES,
    "CREATE INDEX IF NOT EXISTS reports_status_deadline ON reports (status, deadline)",
    "CREATE INDEX IF NOT EXISTS reports_received_at ON reports (received_at)",
    "CREATE INDEX IF NOT EXISTS reports_reported_at ON reports (reported_at)",
    "CREATE INDEX IF NOT EXISTS reports_lon_lat ON reports (lon, lat, status, category, "
    "received_at)",
    "CREATE INDEX IF NOT EXISTS reports_lat ON reports (lat)",
    """CREATE TABLE IF NOT EXISTS report_history (
    id INTEGER PRIMARY KEY, report_id INTEGER NOT NULL REFERENCES reports (id),
    at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, from_status TEXT,
    to_status TEXT, note TEXT, data TEXT)""",
    "CREATE INDEX IF NOT EXISTS report_history_report ON report_history (report_id, id)",
    """CREATE TABLE IF NOT EXISTS hazards (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, category TEXT NOT NULL, method TEXT NOT NULL,
    scores TEXT NOT NULL, score REAL NOT NULL, radius_m REAL NOT NULL, attributes TEXT,
    created_at TEXT NOT NULL, geometry BLOB NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS patrol_routes (
    id INTEGER PRIMARY KEY, grid_code TEXT NOT NULL, shift TEXT NOT NULL, name TEXT,
    attributes TEXT, created_at TEXT NOT NULL, geometry BLOB NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS patrol_routes_grid ON patrol_routes (grid_code)",
    """CREATE TABLE IF NOT EXISTS patrol_tracks (
    id INTEGER PRIMARY KEY, digest TEXT NOT NULL UNIQUE, worker TEXT NOT NULL,
    name TEXT NOT NULL, source TEXT, started_at TEXT NOT NULL, ended_at TEXT NOT NULL,
    points INTEGER NOT NULL, times BLOB NOT NULL, created_at TEXT NOT NULL,
    actor TEXT NOT NULL, geometry BLOB NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS patrol_tracks_time ON patrol_tracks (started_at, ended_at)",
]

SEQUENCES = ("generations", "reports", "hazards", "patrol_routes", "patrol_tracks")

POSTGIS = [
    # The extension first: the tables below have geometry columns.
    "CREATE EXTENSION IF NOT EXISTS postgis",
    *(f"CREATE SEQUENCE IF NOT EXISTS {table}_id_seq" for table in SEQUENCES),
    """CREATE TABLE IF NOT EXISTS generations (
    id BIGINT PRIMARY KEY, label TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL,
    levels JSONB NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS state (
    id INTEGER PRIMARY KEY CHECK (id = 1), active_generation BIGINT REFERENCES generations (id))""",
    "INSERT INTO state (id, active_generation) VALUES (1, NULL) ON CONFLICT (id) DO NOTHING",
    """CREATE TABLE IF NOT EXISTS grids (
    generation_id BIGINT NOT NULL REFERENCES generations (id), depth INTEGER NOT NULL,
    level TEXT NOT NULL, code TEXT NOT NULL, name TEXT, parent TEXT, attributes JSONB,
    geometry geometry(Geometry, 4326) NOT NULL, PRIMARY KEY (generation_id, depth, code))""",
    "CREATE INDEX IF NOT EXISTS grids_code ON grids (code)",
    "CREATE INDEX IF NOT EXISTS grids_geometry ON grids USING GIST (geometry)",
    """CREATE TABLE IF NOT EXISTS generation_roads (
    generation_id BIGINT NOT NULL REFERENCES generations (id), position INTEGER NOT NULL,
    name TEXT, kind TEXT, geometry geometry(Geometry, 4326) NOT NULL,
    PRIMARY KEY (generation_id, position))""",
    f"""CREATE TABLE IF NOT EXISTS reports (
    id BIGINT PRIMARY KEY, external_id TEXT UNIQUE, content_key TEXT NOT NULL,
    source TEXT NOT NULL, category TEXT NOT NULL, description TEXT,
    reported_at TIMESTAMPTZ NOT NULL, received_at TIMESTAMPTZ NOT NULL,
    received_lon DOUBLE PRECISION NOT NULL, received_lat DOUBLE PRECISION NOT NULL,
    received_crs TEXT NOT NULL, lon DOUBLE PRECISION NOT NULL, lat DOUBLE PRECISION NOT NULL,
    geom geometry(Point, 4326) GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326))
        STORED,
    generation_id BIGINT REFERENCES generations (id), assignment TEXT NOT NULL,
    distance_m DOUBLE PRECISION,
    {CODE_COLUMNS},
    status TEXT NOT NULL, handler_depth INTEGER, handler_code TEXT, deadline TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL)""",
    *CODE_INDEXES,
    "CREATE INDEX IF NOT EXISTS reports_status_deadline ON reports (status, deadline)",
    "CREATE INDEX IF NOT EXISTS reports_received_at ON reports (received_at)",
    "CREATE INDEX IF NOT EXISTS reports_reported_at ON reports (reported_at)",
    "CREATE INDEX IF NOT EXISTS reports_geom ON reports USING GIST (geom)",
    "CREATE INDEX IF NOT EXISTS reports_lon ON reports (lon)",
    "CREATE INDEX IF NOT EXISTS reports_lat ON reports (lat)",
    """CREATE TABLE IF NOT EXISTS report_history (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    report_id BIGINT NOT NULL REFERENCES reports (id), at TIMESTAMPTZ NOT NULL,
    actor TEXT NOT NULL, action TEXT NOT NULL, from_status TEXT, to_status TEXT, note TEXT,
    data JSONB)""",
    "CREATE INDEX IF NOT EXISTS report_history_report ON report_history (report_id, id)",
    """CREATE TABLE IF NOT EXISTS hazards (
    id BIGINT PRIMARY KEY, name TEXT NOT NULL, category TEXT NOT NULL, method TEXT NOT NULL,
    scores JSONB NOT NULL, score DOUBLE PRECISION NOT NULL, radius_m DOUBLE PRECISION NOT NULL,
    attributes JSONB, created_at TIMESTAMPTZ NOT NULL,
    geometry geometry(Geometry, 4326) NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS hazards_geometry ON hazards USING GIST (geometry)",
    """CREATE TABLE IF NOT EXISTS patrol_routes (
    id BIGINT PRIMARY KEY, grid_code TEXT NOT NULL, shift TEXT NOT NULL, name TEXT,
    attributes JSONB, created_at TIMESTAMPTZ NOT NULL,
    geometry geometry(Geometry, 4326) NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS patrol_routes_grid ON patrol_routes (grid_code)",
    "CREATE INDEX IF NOT EXISTS patrol_routes_geometry ON patrol_routes USING GIST (geometry)",
    """CREATE TABLE IF NOT EXISTS patrol_tracks (
    id BIGINT PRIMARY KEY, digest TEXT NOT NULL UNIQUE, worker TEXT NOT NULL,
    name TEXT NOT NULL, source TEXT, started_at TIMESTAMPTZ NOT NULL,
    ended_at TIMESTAMPTZ NOT NULL, points INTEGER NOT NULL, times BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL, actor TEXT NOT NULL,
    geometry geometry(Geometry, 4326) NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS patrol_tracks_time ON patrol_tracks (started_at, ended_at)",
    "CREATE INDEX IF NOT EXISTS patrol_tracks_geometry ON patrol_tracks USING GIST (geometry)",
]

STATEMENTS = {"sqlite": SQLITE, "postgresql": POSTGIS}


def upgrade() -> None:
    bind = op.get_bind()
    for statement in STATEMENTS[bind.dialect.name]:
        bind.exec_driver_sql(statement)


def downgrade() -> None:
    raise NotImplementedError("0001 is the whole schema: going below it would drop every report")
