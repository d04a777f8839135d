#!/usr/bin/env bash
# Make sure a PostgreSQL server with PostGIS runs on this machine, for the tests
# of the PostGIS store: install Debian's packages if missing, start the cluster
# if it is down. Idempotent; quick when everything is there. Needs root (CI is).
set -euo pipefail

if [ "$(id -u)" != "0" ]; then
    echo "setup_postgis: not root; PostGIS tests will run only if a server is already up" >&2
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
if ! ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1; then
    apt-get update -qq
    # The postgis metapackage follows the distribution's PostgreSQL version.
    apt-get install -y -qq postgresql postgis >/dev/null
fi

for version in $(ls /etc/postgresql 2>/dev/null); do
    if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main"' | grep -q online; then
        pg_ctlcluster --skip-systemctl-redirect "$version" main start
    fi
done

# Wait for the server, then make sure the user running the tests has a
# superuser role of the same name, so the tests connect over the local socket
# with peer authentication (no password anywhere).
for _ in $(seq 1 30); do
    if su postgres -c "psql -qAtc 'SELECT 1'" >/dev/null 2>&1; then
        su postgres -c "psql -qAtc \"SELECT 1 FROM pg_roles WHERE rolname = 'root'\"" \
            | grep -q 1 || su postgres -c "createuser --superuser root"
        exit 0
    fi
    sleep 1
done
echo "setup_postgis: PostgreSQL did not come up" >&2
exit 1
