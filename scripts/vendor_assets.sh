#!/usr/bin/env bash
# Copy the browser libraries the map pages use into web/static/vendor/, from the
# npm registry. They are committed, so that pages work on a government intranet
# with no route to a public CDN; this script documents (and repeats) where they
# came from. Run it only to upgrade a library.
set -euo pipefail
cd "$(dirname "$0")/.."

vendor() {  # vendor NAME@VERSION SOURCE-DIR-IN-PACKAGE FILE...
    local spec="$1" from="$2"; shift 2
    local name="${spec%@*}" work
    work="$(mktemp -d)"
    (cd "$work" && npm pack --silent "$spec" >/dev/null && tar xzf ./*.tgz)
    mkdir -p "web/static/vendor/$name"
    for file in "$@"; do
        cp -r "$work/package/$from/$file" "web/static/vendor/$name/"
    done
    cp "$work"/package/LICEN[CS]E* "web/static/vendor/$name/" 2>/dev/null \
        || cp "$work"/package/MIT-LICEN[CS]E* "web/static/vendor/$name/"
    rm -rf "$work"
}

vendor leaflet@1.9.4 dist leaflet.js leaflet.css images
vendor leaflet.markercluster@1.5.3 dist leaflet.markercluster.js MarkerCluster.css \
    MarkerCluster.Default.css
vendor leaflet.heat@0.2.0 dist leaflet-heat.js
