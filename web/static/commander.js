/* The commander's map: filters, heat map, per-grid choropleth, report markers,
 * grid popups. Everything is fetched from /api for the current view and the
 * current filters; the page never carries raw report points for the whole
 * district. Settings come from window.GEOGRID (see web/pages.py). */
(function () {
  "use strict";
  var cfg = window.GEOGRID;
  var map = window[cfg.map];
  var t = cfg.texts;
  var filters = { since: "", until: "", category: "", status: "open" };
  var STATUS_OPEN = cfg.statuses.filter(function (s) { return s.key !== "closed"; })
    .map(function (s) { return s.key; }).join(",");

  var DAY_MS = 86400000;
  /* A day "YYYY-MM-DD" moved by n days; in UTC, so no clock change skips or repeats one. */
  function addDays(day, n) {
    return new Date(Date.parse(day) + n * DAY_MS).toISOString().slice(0, 10);
  }

  function query(extra) {
    var q = new URLSearchParams(extra || {});
    if (filters.since) { q.set("since", filters.since); }
    // The field names a day to include; the API's until is the moment the period ends.
    if (filters.until) { q.set("until", addDays(filters.until, 1)); }
    if (filters.category) { q.set("category", filters.category); }
    if (filters.status === "open") { q.set("status", STATUS_OPEN); }
    else if (filters.status) { q.set("status", filters.status); }
    return q.toString();
  }

  function viewBbox() {
    var b = map.getBounds();
    var clamp = function (v, lim) { return Math.max(-lim, Math.min(lim, v)); };
    return [clamp(b.getWest(), 180), clamp(b.getSouth(), 90),
            clamp(b.getEast(), 180), clamp(b.getNorth(), 90)].map(function (v) {
      return v.toFixed(6);
    }).join(",");
  }

  /* JSON from the API; a refusal throws the message the API gave, naming the field. */
  function getJSON(url, init) {
    return fetch(url, withCsrf(init)).then(function (r) {
      return r.ok ? r.json().catch(function () { return {}; }) : refusal(r, url);
    });
  }
  /* A change carries the session's CSRF token: the server refuses a session's change without. */
  function withCsrf(init) {
    if (!init || !init.method || init.method.toUpperCase() === "GET" || !cfg.csrfToken) {
      return init;
    }
    var headers = Object.assign({}, init.headers, { "X-CSRFToken": cfg.csrfToken });
    return Object.assign({}, init, { headers: headers });
  }
  function refusal(response, url) {
    return response.json().catch(function () { return {}; }).then(function (d) {
      throw new Error(d.error ? d.error.message : url + " → " + response.status);
    });
  }
  /* The numbers the legends show (the busiest cell, grid, hexagon…), set by each refresh. */
  var legendValues = { heat: 0, choropleth: 0, density: 0, frames: 0 };

  /* --- heat map ------------------------------------------------------------ */
  // leaflet.heat's own gradient, spelled out so the legend draws the same one.
  var HEAT_GRADIENT = { 0.4: "blue", 0.6: "cyan", 0.7: "lime", 0.8: "yellow", 1.0: "red" };
  var heat = L.heatLayer([], { radius: 18, blur: 14, minOpacity: 0.3, gradient: HEAT_GRADIENT });
  function refreshHeat() {
    if (!map.hasLayer(heat)) { return Promise.resolve(); }
    return getJSON(cfg.api + "/heat?" + query({ bbox: viewBbox(), size: 96 })).then(function (d) {
      // Each point stands for a cell: draw it about a cell wide, so cells blend
      // without piling up, and scale to the busiest cell.
      var centre = map.getCenter();
      var a = map.latLngToContainerPoint(centre);
      var b = map.latLngToContainerPoint([centre.lat, centre.lng + d.cell_deg]);
      var cellPx = Math.max(2, Math.abs(b.x - a.x));
      heat.setOptions({ radius: cellPx * 1.2, blur: cellPx * 1.2, max: Math.max(1, d.max) });
      heat.setLatLngs(d.points);
      legendValues.heat = d.max;
      drawLegends();
    });
  }

  /* --- the default level drawn from vector tiles, when it is too big for one GeoJSON --- */
  // Its choropleth, risk and hot spots colour the level's tiles by grid code: the counts
  // and colours come from the API as today, the outlines from the tiles.
  var tiledDefault = (cfg.tiledLevels || {})[cfg.choroplethLevel];
  function tiledFill(fillOf) {
    return window.geogridTiles.layer(map, { url: tiledDefault.url, level: cfg.choroplethLevel,
      minZoom: tiledDefault.minZoom, depth: tiledDefault.depth, pane: "overlayPane",
      color: "#555", weight: 0.5, fill: fillOf, pickable: false });
  }
  /* Whether the default level's tiles are drawn at this zoom (always, for GeoJSON). */
  function defaultLevelDrawn() { return !tiledDefault || map.getZoom() >= tiledDefault.minZoom; }

  /* --- per-grid choropleth --------------------------------------------------- */
  var RAMP = ["#fff5eb", "#fdd0a2", "#fd8d3c", "#e6550d", "#a63603"];
  function colour(count, max) {
    if (!count) { return null; }
    return RAMP[Math.min(RAMP.length - 1, Math.floor(RAMP.length * count / (max + 1)))];
  }
  var tiledCounts = { query: null, counts: {}, max: 0 };
  var choropleth = tiledDefault ? tiledFill(function (p) {
    var fill = colour(tiledCounts.counts[p.code] || 0, tiledCounts.max);
    return fill ? [fill, 0.65] : null;
  }) : L.geoJSON(null, { style: { weight: 0.5, color: "#555", fillOpacity: 0 } });
  var choroplethShapes = null;
  /* The default level's GeoJSON: the one its level layer fetched, if it did (one download). */
  function levelShapes() {
    var url = cfg.api + "/levels/" + cfg.choroplethLevel + "/grids";
    var fetched = (window.geogridLevelData || {})[url];
    return fetched || getJSON(url);
  }
  /* The tiled choropleth: counts asked for again only when the filters change. */
  function refreshTiledChoropleth() {
    var q = query({ level: cfg.choroplethLevel });
    if (!defaultLevelDrawn() || q === tiledCounts.query) { return Promise.resolve(); }
    return getJSON(cfg.api + "/stats?" + q).then(function (d) {
      var counts = {}, max = 0;
      d.grids.forEach(function (g) { counts[g.code] = g.total; max = Math.max(max, g.total); });
      tiledCounts = { query: q, counts: counts, max: max };
      choropleth.repaint();
      legendValues.choropleth = max;
      drawLegends();
    });
  }
  function refreshChoropleth() {
    if (!map.hasLayer(choropleth)) { return Promise.resolve(); }
    if (tiledDefault) { return refreshTiledChoropleth(); }
    var shapes = choroplethShapes || levelShapes();
    return Promise.all([shapes, getJSON(cfg.api + "/stats?" + query({ level: cfg.choroplethLevel }))])
      .then(function (both) {
        choroplethShapes = both[0];
        var counts = {};
        var max = 0;
        both[1].grids.forEach(function (g) { counts[g.code] = g.total; max = Math.max(max, g.total); });
        choropleth.clearLayers();
        choropleth.addData(choroplethShapes);
        choropleth.eachLayer(function (layer) {
          var n = counts[layer.feature.properties.code] || 0;
          var fill = colour(n, max);
          layer.setStyle({ fillColor: fill || "#ffffff", fillOpacity: fill ? 0.65 : 0 });
          layer.bindTooltip(layer.feature.properties.name + " · " + n + " " + t.reports, { sticky: true });
        });
        legendValues.choropleth = max;
        drawLegends();
      });
  }

  /* --- report markers (only close in, and only this view) -------------------- */
  var markers = L.markerClusterGroup({ showCoverageOnHover: false, maxClusterRadius: 50 });
  function refreshMarkers() {
    markers.clearLayers();
    var hint = document.getElementById("geogrid-hint");
    if (map.getZoom() < cfg.markerZoom || !map.hasLayer(markers)) {
      if (hint) { hint.textContent = map.hasLayer(markers) ? t.zoomForMarkers : ""; }
      return Promise.resolve();
    }
    return getJSON(cfg.api + "/reports.geojson?" + query({ bbox: viewBbox(), limit: 1000 }))
      .then(function (d) {
        if (hint) {
          hint.textContent = d.numberMatched > d.numberReturned
            ? t.showing + " " + d.numberReturned + " / " + d.numberMatched : "";
        }
        L.geoJSON(d, {
          onEachFeature: function (f, layer) {
            var p = f.properties;
            layer.bindPopup("<b>" + categoryName(p.category) + "</b><br>" + statusName(p.status) +
              " · " + p.received_at.slice(0, 16).replace("T", " ") + "<br>" + escapeHtml(p.description) +
              "<br><small>#" + p.id + " " + (p.handler_code || "") + "</small>");
          }
        }).eachLayer(function (layer) { markers.addLayer(layer); });
      });
  }

  /* --- four-colour risk zones (四色安全图谱) and kernel density, on demand ---- */
  var RISK_FILL = { red: "#d7191c", orange: "#fdae61", yellow: "#ffff66", blue: "#2c7bb6" };
  var riskColours = {};
  var riskLayer = tiledDefault ? tiledFill(function (p) {
    var c = riskColours[p.code];
    return c ? [RISK_FILL[c] || "#ccc", 0.55] : null;
  }) : L.geoJSON(null, {
    style: function (f) {
      return { color: "#333", weight: 0.6, fillColor: RISK_FILL[f.properties.colour] || "#ccc",
               fillOpacity: 0.55 };
    },
    onEachFeature: function (f, layer) {
      var p = f.properties;
      layer.bindTooltip("<b>" + escapeHtml(p.name || p.code) + "</b> " + escapeHtml(p.colour_zh || "") +
        "<br>" + escapeHtml(cfg.lang === "en" ? p.reasons_en : p.reasons_zh), { sticky: true });
    }
  });
  var riskLoaded = false;
  function refreshRisk() {
    if (riskLoaded || !map.hasLayer(riskLayer)) { return Promise.resolve(); }
    return getJSON(cfg.api + "/analysis/risk?level=" + cfg.choroplethLevel).then(function (d) {
      if (tiledDefault) {  // the colours by code; the tiles draw the outlines
        d.features.forEach(function (f) { riskColours[f.properties.code] = f.properties.colour; });
        riskLayer.repaint();
      } else {
        riskLayer.addData(d);
      }
      riskLoaded = true;
    });
  }
  var DENSITY_BANDWIDTH_M = 150;
  var density = L.imageOverlay("data:,", map.getBounds(), { opacity: 0.7 });
  var densityImage = null, densityAsked = 0;
  /* Fetched rather than pointed at, to read the density at full colour for the legend. */
  function refreshDensity() {
    if (!map.hasLayer(density)) { return Promise.resolve(); }
    var size = map.getSize();
    var q = new URLSearchParams({ bbox: viewBbox(), width: size.x, height: size.y,
                                  bandwidth_m: DENSITY_BANDWIDTH_M });
    if (filters.category) { q.set("category", filters.category); }
    var bounds = map.getBounds(), url = cfg.api + "/analysis/heat.png?" + q.toString();
    var asked = ++densityAsked;
    return fetch(url).then(function (r) {
      if (!r.ok) { return refusal(r, url); }
      var top = Number(r.headers.get("X-Geogrid-Max-Per-Km2")) || 0;
      return r.blob().then(function (png) {
        if (asked !== densityAsked) { return; }  // the view moved on meanwhile
        if (densityImage) { URL.revokeObjectURL(densityImage); }
        densityImage = URL.createObjectURL(png);
        density.setUrl(densityImage);
        density.setBounds(bounds);
        legendValues.density = top;
        drawLegends();
      });
    });
  }

  /* --- Gi* hot and cold spots per grid --------------------------------------- */
  var SPOT_FILL = { hot: ["#fcae91", "#fb6a4a", "#cb181d"], cold: ["#bdd7e7", "#6baed6", "#2171b5"] };
  var spotFills = {};
  var spotLayer = tiledDefault ? tiledFill(function (p) {
    return spotFills[p.code] ? [spotFills[p.code], 0.6] : null;
  }) : L.geoJSON(null, { style: { weight: 0.5, color: "#555", fillOpacity: 0 } });
  function spotFill(g) {
    var level = g ? { 90: 0, 95: 1, 99: 2 }[g.confidence] : undefined;
    return g && g.spot !== "none" && level !== undefined ? SPOT_FILL[g.spot][level] : null;
  }
  function refreshTiledSpots() {
    return getJSON(cfg.api + "/analysis/hotspots?" + query({ level: cfg.choroplethLevel })
      .replace(/&?status=[^&]*/, "")).then(function (d) {
      spotFills = {};
      d.grids.forEach(function (g) { spotFills[g.code] = spotFill(g); });
      spotLayer.repaint();
    });
  }
  function refreshSpots() {
    if (!map.hasLayer(spotLayer)) { return Promise.resolve(); }
    if (tiledDefault) { return refreshTiledSpots(); }
    var shapes = choroplethShapes || levelShapes();
    return Promise.all([shapes, getJSON(cfg.api + "/analysis/hotspots?" + query({ level: cfg.choroplethLevel })
      .replace(/&?status=[^&]*/, ""))]).then(function (both) {
      choroplethShapes = both[0];
      var spots = {};
      both[1].grids.forEach(function (g) { spots[g.code] = g; });
      spotLayer.clearLayers();
      spotLayer.addData(choroplethShapes);
      spotLayer.eachLayer(function (layer) {
        var g = spots[layer.feature.properties.code];
        var fill = spotFill(g);
        layer.setStyle({ fillColor: fill || "#fff", fillOpacity: fill ? 0.6 : 0 });
        if (g) { layer.bindTooltip(escapeHtml(cfg.lang === "en" ? g.label_en : g.label_zh), { sticky: true }); }
      });
    });
  }

  /* --- hexagons week by week, with a slider (an animation over time) ---------- */
  var frames = L.layerGroup();
  var frameData = null;
  var Player = L.Control.extend({
    onAdd: function () {
      var div = L.DomUtil.create("div", "geogrid-box geogrid-player");
      div.innerHTML = "<button id='p-play'>▶</button> <input id='p-slider' type='range' min='0' max='0' value='0'> " +
        "<span id='p-label'></span>";
      L.DomEvent.disableClickPropagation(div);
      return div;
    }
  });
  var player = new Player({ position: "bottomleft" });
  function showFrame(i) {
    if (!frameData) { return; }
    var slice = { start: frameData.slices[i][0], end: frameData.slices[i][1] };
    frames.clearLayers();
    var max = 1;
    frameData.features.forEach(function (f) { max = Math.max(max, f.properties.count); });
    legendValues.frames = max;
    drawLegends();
    L.geoJSON({ type: "FeatureCollection", features: frameData.features.filter(function (f) {
      return f.properties.start === slice.start;
    }) }, { style: function (f) {
      return { weight: 0.3, color: "#7f2704", fillColor: colour(f.properties.count, max) || "#fff",
               fillOpacity: 0.7 };
    } }).eachLayer(function (layer) { frames.addLayer(layer); });
    document.getElementById("p-label").textContent = slice.start.slice(0, 10) + " – " + slice.end.slice(0, 10);
  }
  /* "Now" and "today" are the server's (its clock setting, the district's zone), not
     this computer's: a commander's PC set to UTC still sees Beijing's day. */
  var clockOffset = cfg.now - Date.now();
  function pageNow() { return new Date(Date.now() + clockOffset); }
  function localDay(date) {
    return new Intl.DateTimeFormat("en-CA", { timeZone: cfg.zone, year: "numeric", month: "2-digit",
                                              day: "2-digit" }).format(date);
  }
  function refreshFrames() {
    if (!map.hasLayer(frames)) { return Promise.resolve(); }
    // Both ends from this page's clock: the weeks shown are the commander's last twelve.
    var now = pageNow();
    var since = new Date(now.getTime() - 12 * 7 * DAY_MS);
    return getJSON(cfg.api + "/analysis/hexagons/slices?step=week&since=" +
                   encodeURIComponent(since.toISOString()) + "&until=" + encodeURIComponent(now.toISOString()))
      .then(function (d) {
        frameData = d;
        var slider = document.getElementById("p-slider");
        slider.max = Math.max(0, d.slices.length - 1);
        slider.value = slider.max;
        showFrame(Number(slider.value));
      });
  }
  map.on("overlayadd", function (e) {
    if (e.layer !== frames) { return; }
    player.addTo(map);
    var slider = document.getElementById("p-slider");
    slider.addEventListener("input", function () { showFrame(Number(slider.value)); });
    document.getElementById("p-play").addEventListener("click", function () {
      var i = 0;
      var timer = setInterval(function () {
        if (!frameData || i >= frameData.slices.length) { clearInterval(timer); return; }
        slider.value = i; showFrame(i); i += 1;
      }, 700);
    });
  });
  map.on("overlayremove", function (e) { if (e.layer === frames) { player.remove(); } });

  /* --- 预警: open reports in scope that are overdue (red) or nearly so (amber), on demand --- */
  var WARNING_FILL = { overdue: "#d73027", nearly: "#f39c12" };
  var warningLayer = L.featureGroup();
  function refreshWarnings() {
    if (!map.hasLayer(warningLayer) || warningLayer.getLayers().length) { return Promise.resolve(); }
    return Promise.all(["nearly", "overdue"].map(function (kind) {
      var q = new URLSearchParams({ mine: "0", warning: kind, limit: "500" });
      return getJSON(cfg.api + "/queue?" + q.toString()).then(function (d) {
        (d.items || []).forEach(function (r) { warningMark(r, kind); });  // overdue drawn on top
      });
    }));
  }
  function warningMark(r, kind) {
    var link = cfg.workPage + "/reports/" + r.id + (cfg.lang === "en" ? "?lang=en" : "");
    L.circleMarker([r.lat, r.lon], { radius: 7, color: "#fff", weight: 1.5,
                                     fillColor: WARNING_FILL[kind], fillOpacity: 0.95 })
      .bindPopup("<b>" + escapeHtml(t["warningsLegend_" + kind]) + "</b> " + categoryName(r.category) +
        "<br>" + statusName(r.status) + " · " + escapeHtml((r.deadline || "").slice(0, 16).replace("T", " ")) +
        "<br><a href='" + link + "'>" + escapeHtml(r.ticket || "#" + r.id) + " →</a>")
      .addTo(warningLayer);
  }
  // Fresh each time it is switched on: the queue moves on as people work.
  map.on("overlayremove", function (e) { if (e.layer === warningLayer) { warningLayer.clearLayers(); } });

  /* --- uploaded GPS tracks and patrol compliance (一日三巡) -------------------- */
  var trackLayer = L.layerGroup();
  var complianceLayer = L.geoJSON(null, {
    style: function (f) {
      return { weight: 0.6, color: "#333", fillColor: f.properties.colour || "#ccc", fillOpacity: 0.5 };
    },
    onEachFeature: function (f, layer) {
      var p = f.properties;
      layer.bindTooltip(escapeHtml((p.name || p.code) + " · " + (p.label || p.status || "") + " · " +
        t.patrols + " " + (p.patrols || 0)), { sticky: true });
    }
  });
  function gpxLines(text) {
    var doc = new DOMParser().parseFromString(text, "application/xml");
    return Array.prototype.map.call(doc.getElementsByTagName("trkseg"), function (seg) {
      return Array.prototype.map.call(seg.getElementsByTagName("trkpt"), function (pt) {
        return [Number(pt.getAttribute("lat")), Number(pt.getAttribute("lon"))];
      });
    });
  }
  /* Switched on with no upload, the two layers show the stored tracks and their
     compliance for the filter's days (default today): the last cfg.patrolMaxDays of a
     longer period, since the API reads no more at once, and the status says so. */
  var uploaded = false, storedQuery = null;
  function patrolDays() {
    var until = filters.until || localDay(pageNow());
    var since = filters.since || until;
    if (since > until) { until = since; }  // a first day after today, no last day: that day
    var first = addDays(until, 1 - cfg.patrolMaxDays);
    return { since: since < first ? first : since, until: until, clipped: since < first };
  }
  function patrolNote(days, found) {
    var notes = [];
    if (days.clipped) {
      notes.push(fillIn(t.patrolClipped, { days: cfg.patrolMaxDays, since: days.since, until: days.until }));
    }
    if (!found.features.length) { notes.push(t.noTracks); }
    return notes.join(t.listSeparator);
  }
  function loadStoredPatrols() {
    if (uploaded || !(map.hasLayer(trackLayer) || map.hasLayer(complianceLayer))) { return; }
    var days = patrolDays();
    var query = "since=" + days.since + "&until=" + days.until;
    if (query === storedQuery) { return; }
    storedQuery = query;
    var status = document.getElementById("g-status");
    status.textContent = t.loadingPatrols;  // a week of tracks can take a few seconds
    Promise.all([
      getJSON(cfg.api + "/patrol/tracks?" + query),
      getJSON(cfg.api + "/patrol/compliance?format=geojson&" + query)
    ]).then(function (found) {
      // The days changed, or a file was dropped in, while this was on its way.
      if (uploaded || query !== storedQuery) { return; }
      trackLayer.clearLayers();
      L.geoJSON(found[0], {
        style: { color: "#00441b", weight: 3 },
        onEachFeature: function (f, layer) {
          var p = f.properties;
          layer.bindTooltip(escapeHtml(p.worker + " · " + p.name + " · " +
            (p.length_m / 1000).toFixed(1) + " km"), { sticky: true });
        }
      }).addTo(trackLayer);
      complianceLayer.clearLayers();
      complianceLayer.addData(found[1]);
      status.textContent = patrolNote(days, found[0]);
    }).catch(function (err) { storedQuery = null; status.textContent = String(err.message || err); });
  }
  function uploadTracks(text) {
    uploaded = true;
    storedQuery = null;
    trackLayer.clearLayers();
    gpxLines(text).forEach(function (line) {
      L.polyline(line, { color: "#00441b", weight: 3 }).addTo(trackLayer);
    });
    return getJSON(cfg.api + "/patrol/compliance?format=geojson", {
      method: "POST", body: text, headers: { "Content-Type": "application/gpx+xml" }
    }).then(function (d) {
      complianceLayer.clearLayers();
      complianceLayer.addData(d);
      complianceLayer.addTo(map);
      trackLayer.addTo(map);
      document.getElementById("g-status").textContent = "";
    }).catch(function (err) { document.getElementById("g-status").textContent = String(err.message || err); });
  }
  var Upload = L.Control.extend({
    onAdd: function () {
      var div = L.DomUtil.create("div", "geogrid-box");
      div.innerHTML = "<b>" + t.tracks + "</b><br><input type='file' id='g-gpx' accept='.gpx'>" +
        "<br><span id='g-status' class='hint'></span>";
      L.DomEvent.disableClickPropagation(div);
      return div;
    }
  });

  /* --- planned patrol routes (a few lines per grid and shift) ----------------- */
  var routes = L.geoJSON(null, {
    style: { color: "#6a3d9a", weight: 3, dashArray: "6 4" },
    onEachFeature: function (f, layer) {
      var p = f.properties || {};
      var length = p.length_m ? " · " + (p.length_m / 1000).toFixed(2) + " km" : "";
      var minutes = p.walking_minutes ? " · " + Math.round(p.walking_minutes) + " " + t.minutes : "";
      layer.bindTooltip(escapeHtml((p.name || "") + " · " + (p.grid_code || "") + " · " +
        (p.shift || "") + length + minutes));
    }
  });
  var routesLoaded = false;
  function loadRoutes(url) {  /* the routes come a page at a time: follow "next" */
    return getJSON(url).then(function (d) {
      routes.addData(d);
      return d.next ? loadRoutes(d.next) : null;
    });
  }
  function refreshRoutes() {
    if (routesLoaded || !map.hasLayer(routes)) { return Promise.resolve(); }
    return loadRoutes(cfg.api + "/patrol/routes").then(function () { routesLoaded = true; });
  }

  /* --- grid popup ------------------------------------------------------------ */
  window.geogridGridClick = function (feature, e) {
    var p = feature.properties;
    getJSON(cfg.api + "/stats/" + encodeURIComponent(p.code) + "?" + query()).then(function (s) {
      var c = s.counts;
      L.popup().setLatLng(e.latlng).setContent(
        "<b>" + escapeHtml(p.name || "") + "</b><br><code>" + p.code + "</code><br>" +
        t.households + ": " + (s.households === null ? "—" : s.households) + "<br>" +
        t.open + ": <b>" + c.open + "</b> · " + t.overdue + ": <b class='overdue'>" + c.overdue +
        "</b> · " + t.total + ": " + c.total + "<br><a href='" + cfg.gridPage + encodeURIComponent(p.code) +
        "'>" + t.details + " →</a>").openOn(map);
    });
  };

  /* --- controls ---------------------------------------------------------------- */
  function select(id, options) {
    return "<select id='" + id + "'>" + options.map(function (o) {
      return "<option value='" + o[0] + "'>" + escapeHtml(o[1]) + "</option>";
    }).join("") + "</select>";
  }
  var Filters = L.Control.extend({
    onAdd: function () {
      var div = L.DomUtil.create("div", "geogrid-box geogrid-filters");
      div.innerHTML =
        "<b>" + t.filters + "</b><br>" +
        "<label>" + t.since + " <input type='date' id='f-since'></label><br>" +
        "<label>" + t.until + " <input type='date' id='f-until'></label><br>" +
        "<span id='f-problem' class='hint' role='status'></span>" +
        "<label>" + t.category + " " + select("f-category", [["", t.all]].concat(
          cfg.categories.map(function (c) { return [c.code, c.name]; }))) + "</label><br>" +
        "<label>" + t.status + " " + select("f-status", [["open", t.openOnly], ["", t.all]].concat(
          cfg.statuses.map(function (s) { return [s.key, s.name]; }))) + "</label><br>" +
        "<span id='geogrid-hint' class='hint'></span>";
      L.DomEvent.disableClickPropagation(div);
      return div;
    }
  });
  /* --- legends: one per layer, on screen while its layer is on --------------------- */
  var legendBox = L.control({ position: "bottomright" });
  legendBox.onAdd = function () { return L.DomUtil.create("div", "geogrid-box geogrid-legend"); };
  function swatch(colour, text) {
    return "<div><i style='background:" + colour + "'></i>" + escapeHtml(text) + "</div>";
  }
  function lineSwatch(style, text) {
    return "<div><i class='line' style='" + style + "'></i>" + escapeHtml(text) + "</div>";
  }
  /* A continuous colour scale, low end left, with words or numbers at both ends. */
  function ramp(stops, low, high) {
    return "<div class='ramp' style='background:linear-gradient(to right," + stops + ")'></div>" +
      "<div class='ends'><span>" + escapeHtml(low) + "</span><span>" + escapeHtml(high) + "</span></div>";
  }
  /* The counts each colour of colour() stands for: n is drawn in step floor(5 n / (max + 1)),
     so with few reports some steps hold no count and are left out. */
  function steps(max) {
    if (!max) { return "<div>" + escapeHtml(t.noReportsHere) + "</div>"; }
    return "<div class='steps'>" + RAMP.map(function (c, i) {
      var low = Math.max(1, Math.ceil(i * (max + 1) / RAMP.length));
      var high = Math.min(max, Math.ceil((i + 1) * (max + 1) / RAMP.length) - 1);
      if (low > high) { return ""; }
      return "<span><i style='background:" + c + "'></i>" + (low === high ? low : low + "–" + high) + "</span>";
    }).join(" ") + "</div>";
  }
  // Sorted: "1" is an integer key, which Object.keys would list first.
  var HEAT_STOPS = Object.keys(HEAT_GRADIENT).sort(function (a, b) { return a - b; }).map(function (at) {
    return HEAT_GRADIENT[at] + " " + Math.round(at * 100) + "%";
  }).join(",");
  // matplotlib's YlOrRd, the colour map of /api/analysis/heat.png.
  var YLORRD = "#ffffcc,#ffeda0,#fed976,#feb24c,#fd8d3c,#fc4e2a,#e31a1c,#bd0026,#800026";
  var LEGENDS = [
    [heat, "heat", function () {
      var top = legendValues.heat;
      return ramp(HEAT_STOPS, t.fewer, top ? fillIn(t.heatMax, { n: top }) : t.noReportsHere);
    }],
    [choropleth, "choropleth", function () { return steps(legendValues.choropleth); }],
    [markers, "markers", function () { return escapeHtml(t.markersLegend); }],
    [routes, "routes", function () { return lineSwatch("border-top:3px dashed #6a3d9a", t.routesLegend); }],
    [riskLayer, "risk", function () {
      return ["red", "orange", "yellow", "blue"].map(function (c) {
        return swatch(RISK_FILL[c], t["risk_" + c]);
      }).join("");
    }],
    [density, "density", function () {
      var top = legendValues.density;
      return ramp(YLORRD, "0", fillIn(t.perKm2, { n: top >= 10 ? Math.round(top) : top.toFixed(1) })) +
        escapeHtml(fillIn(t.bandwidth, { m: DENSITY_BANDWIDTH_M }));
    }],
    [spotLayer, "spots", function () {
      // Hottest first, coldest last; SPOT_FILL lists each kind at 90, 95 and 99 %.
      var spot = function (kind, words) {
        return function (i) { return swatch(SPOT_FILL[kind][i], fillIn(words, { p: [90, 95, 99][i] })); };
      };
      return [2, 1, 0].map(spot("hot", t.hotSpot)).join("") + [0, 1, 2].map(spot("cold", t.coldSpot)).join("") +
        swatch("#fff", t.notSignificant);
    }],
    [frames, "frames", function () { return escapeHtml(t.perHexagon) + steps(legendValues.frames); }],
    [complianceLayer, "compliance", function () {
      return ["met", "partly", "short", "never"].map(function (key) {
        return swatch(cfg.complianceColours[key], t["compliance_" + key]);
      }).join("");
    }],
    [trackLayer, "tracks", function () { return lineSwatch("border-top:3px solid #00441b", t.tracksLegend); }],
    [warningLayer, "warnings", function () {
      return swatch(WARNING_FILL.overdue, t.warningsLegend_overdue) + swatch(WARNING_FILL.nearly, t.warningsLegend_nearly);
    }]
  ];
  var LEGEND_TITLES = { heat: t.heat, choropleth: t.reportsPerGrid, markers: t.markers, routes: t.routes,
                        risk: t.risk, density: t.density, spots: t.spots, frames: t.frames,
                        compliance: fillIn(t.complianceTitle, { n: cfg.patrolRequired }), tracks: t.trackLines,
                        warnings: t.warnings };
  /* Redrawn whenever a layer goes on or off or a refresh brings new numbers. */
  function drawLegends() {
    var box = document.querySelector(".geogrid-legend");
    if (!box) { return; }
    var on = LEGENDS.filter(function (entry) { return map.hasLayer(entry[0]); });
    box.innerHTML = on.map(function (entry) {
      return "<section data-legend='" + entry[1] + "'><b>" + escapeHtml(LEGEND_TITLES[entry[1]]) +
        "</b>" + entry[2]() + "</section>";
    }).join("");
    box.style.display = on.length ? "" : "none";
  }

  function refreshAll() {
    document.body.setAttribute("data-loading", "true");
    return Promise.all([refreshHeat(), refreshChoropleth(), refreshMarkers(), refreshRoutes(),
                        refreshRisk(), refreshDensity(), refreshSpots(), refreshFrames(),
                        refreshWarnings()])
      .catch(function (err) { console.warn(err); })
      .then(function () { document.body.setAttribute("data-loading", "false"); });
  }

  /* --- the filter's days, checked before anything is asked for ------------------- */
  /* A day the date field can hold in full: while a year is typed it passes 0002-…,
     0020-… or 20261-…, and a part cleared leaves it empty with badInput set. */
  function isDay(text) {
    var found = /^(\d{4})-\d{2}-\d{2}$/.exec(text);
    return Boolean(found) && Number(found[1]) >= 1970 && Number(found[1]) <= 2999;
  }
  function datesProblem(since, until) {
    var fields = [[since, t.since], [until, t.until]];
    for (var i = 0; i < fields.length; i += 1) {
      var input = fields[i][0];
      if (input.validity.badInput || (input.value && !isDay(input.value))) {
        return fields[i][1] + t.dateUnfinished;
      }
    }
    return since.value && until.value && until.value < since.value ? t.untilBeforeSince : "";
  }
  /* Days that make sense are applied; otherwise the page says what is wrong and keeps
     showing the last days that did, until the user is done typing. */
  function applyDates() {
    var since = document.getElementById("f-since"), until = document.getElementById("f-until");
    var problem = datesProblem(since, until);
    document.getElementById("f-problem").textContent = problem;
    if (problem) { return; }
    filters.since = since.value;
    filters.until = until.value;
    refreshAll();
    loadStoredPatrols();
  }

  /* A text with {name} places filled in. */
  function fillIn(text, values) {
    return text.replace(/\{(\w+)\}/g, function (all, name) { return String(values[name]); });
  }
  function categoryName(code) {
    var found = cfg.categoryNames[code];
    return found ? escapeHtml(found) : escapeHtml(code);
  }
  function statusName(key) {
    var s = cfg.statuses.filter(function (x) { return x.key === key; })[0];
    return s ? s.name : key;
  }
  function escapeHtml(text) {
    return String(text || "").replace(/[&<>"']/g, function (ch) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" }[ch];
    });
  }

  /* The way to the work queue (待办), where the 预警 marks lead too. */
  var WorkLink = L.Control.extend({
    onAdd: function () {
      var div = L.DomUtil.create("div", "geogrid-box geogrid-work");
      div.innerHTML = "<a id='geogrid-work' href='" + cfg.workPage + (cfg.lang === "en" ? "?lang=en" : "") +
        "'>" + escapeHtml(t.workQueue) + " →</a>";
      return div;
    }
  });
  new Filters({ position: "topleft" }).addTo(map);
  new WorkLink({ position: "topleft" }).addTo(map);
  new Upload({ position: "topleft" }).addTo(map);
  document.getElementById("g-gpx").addEventListener("change", function (e) {
    var file = e.target.files[0];
    if (file) { file.text().then(uploadTracks); }
  });
  legendBox.addTo(map);
  map.on("overlayadd overlayremove", drawLegends);
  heat.addTo(map);
  choropleth.addTo(map);
  markers.addTo(map);
  routes.addTo(map);
  L.control.layers(null, (function () {
    var overlays = {};
    overlays[t.heat] = heat;
    overlays[t.choropleth] = choropleth;
    overlays[t.markers] = markers;
    overlays[t.routes] = routes;
    overlays[t.risk] = riskLayer;
    overlays[t.density] = density;
    overlays[t.spots] = spotLayer;
    overlays[t.frames] = frames;
    overlays[t.compliance] = complianceLayer;
    overlays[t.trackLines] = trackLayer;
    overlays[t.warnings] = warningLayer;
    return overlays;
  })(), { collapsed: false, position: "topright" }).addTo(map);

  ["f-category", "f-status"].forEach(function (id) {
    document.getElementById(id).addEventListener("change", function (e) {
      var key = id.slice(2);
      filters[key] = e.target.value;
      refreshAll();
    });
  });
  ["f-since", "f-until"].forEach(function (id) {
    document.getElementById(id).addEventListener("change", applyDates);
  });
  map.on("moveend", refreshAll);
  map.on("overlayadd", refreshAll);
  map.on("overlayadd", loadStoredPatrols);
  drawLegends();
  refreshAll();
})();
