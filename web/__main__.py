"""Serve the app with waitress, a production WSGI server: ``python -m web``."""

from __future__ import annotations

import waitress

from geogrid.reports import ReportQuery
from geogrid.sample import sample_reports
from web import create_app
from web.state import hierarchy, store

#: Reports generated into an empty store when GEOGRID_SAMPLE_REPORTS is on.
SAMPLE_COUNT = 20_000


def main() -> None:
    """Set up the store (boundaries, sample reports if asked), build the index, serve."""
    app = create_app()
    with app.app_context():
        district = hierarchy().prepare()
        if app.config["SAMPLE_REPORTS"] and store().find_reports(ReportQuery(limit=1)).total == 0:
            print(f"geogrid: storing {SAMPLE_COUNT:,} sample reports …", flush=True)
            reports = sample_reports(district, SAMPLE_COUNT)
            for start in range(0, SAMPLE_COUNT, 5000):
                store().add_reports(reports[start : start + 5000], actor="sample")
            store().optimize()
    host, port = app.config["HOST"], app.config["PORT"]
    print(f"geogrid: serving {district.name} on http://{host}:{port}/", flush=True)
    waitress.serve(app, host=host, port=port, threads=app.config["THREADS"])


if __name__ == "__main__":
    main()
