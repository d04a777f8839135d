"""Serve the app with waitress, a production WSGI server: ``python -m web``."""

from __future__ import annotations

import waitress

from web import create_app
from web.state import hierarchy


def main() -> None:
    """Load the district first (so the first visitor does not wait), then serve."""
    app = create_app()
    with app.app_context():
        loaded = hierarchy().prepare()
    host, port = app.config["HOST"], app.config["PORT"]
    print(f"geogrid: serving {loaded.name or app.config['MANIFEST']} on http://{host}:{port}/")
    waitress.serve(app, host=host, port=port, threads=app.config["THREADS"])


if __name__ == "__main__":
    main()
