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

  function query(extra) {
    var q = new URLSearchParams(extra || {});
    if (filters.since) { q.set("since", filters.since); }
    if (filters.until) { q.set("until", filters.until); }
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
    return fetch(url, init).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (d) {
        if (!r.ok) { throw new Error(d.error ? d.error.message : url + " → " + r.status); }
        return d;
      });
    });
  }

  /* --- heat map ------------------------------------------------------------ */
  var heat = L.heatLayer([], { radius: 18, blur: 14, minOpacity: 0.3 });
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
    });
  }

  /* --- per-grid choropleth --------------------------------------------------- */
  var choropleth = L.geoJSON(null, { style: { weight: 0.5, color: "#555", fillOpacity: 0 } });
  var choroplethShapes = null;
  var RAMP = ["#fff5eb", "#fdd0a2", "#fd8d3c", "#e6550d", "#a63603"];
  function colour(count, max) {
    if (!count) { return null; }
    return RAMP[Math.min(RAMP.length - 1, Math.floor(RAMP.length * count / (max + 1)))];
  }
  function refreshChoropleth() {
    if (!map.hasLayer(choropleth)) { return Promise.resolve(); }
    var shapes = choroplethShapes || getJSON(cfg.api + "/levels/" + cfg.choroplethLevel + "/grids");
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
        legend(max);
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
  var riskLayer = L.geoJSON(null, {
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
      riskLayer.addData(d);
      riskLoaded = true;
    });
  }
  var density = L.imageOverlay("data:,", map.getBounds(), { opacity: 0.7 });
  function refreshDensity() {
    if (!map.hasLayer(density)) { return Promise.resolve(); }
    var size = map.getSize();
    var q = new URLSearchParams({ bbox: viewBbox(), width: size.x, height: size.y, bandwidth_m: 150 });
    if (filters.category) { q.set("category", filters.category); }
    var bounds = map.getBounds();
    density.setUrl(cfg.api + "/analysis/heat.png?" + q.toString());
    density.setBounds(bounds);
    return Promise.resolve();
  }

  /* --- Gi* hot and cold spots per grid --------------------------------------- */
  var SPOT_FILL = { hot: ["#fcae91", "#fb6a4a", "#cb181d"], cold: ["#bdd7e7", "#6baed6", "#2171b5"] };
  var spotLayer = L.geoJSON(null, { style: { weight: 0.5, color: "#555", fillOpacity: 0 } });
  function refreshSpots() {
    if (!map.hasLayer(spotLayer)) { return Promise.resolve(); }
    var shapes = choroplethShapes || getJSON(cfg.api + "/levels/" + cfg.choroplethLevel + "/grids");
    return Promise.all([shapes, getJSON(cfg.api + "/analysis/hotspots?" + query({ level: cfg.choroplethLevel })
      .replace(/&?status=[^&]*/, ""))]).then(function (both) {
      choroplethShapes = both[0];
      var spots = {};
      both[1].grids.forEach(function (g) { spots[g.code] = g; });
      spotLayer.clearLayers();
      spotLayer.addData(choroplethShapes);
      spotLayer.eachLayer(function (layer) {
        var g = spots[layer.feature.properties.code];
        var level = g ? { 90: 0, 95: 1, 99: 2 }[g.confidence] : undefined;
        var fill = g && g.spot !== "none" && level !== undefined ? SPOT_FILL[g.spot][level] : null;
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
    L.geoJSON({ type: "FeatureCollection", features: frameData.features.filter(function (f) {
      return f.properties.start === slice.start;
    }) }, { style: function (f) {
      return { weight: 0.3, color: "#7f2704", fillColor: colour(f.properties.count, max) || "#fff",
               fillOpacity: 0.7 };
    } }).eachLayer(function (layer) { frames.addLayer(layer); });
    document.getElementById("p-label").textContent = slice.start.slice(0, 10) + " – " + slice.end.slice(0, 10);
  }
  function refreshFrames() {
    if (!map.hasLayer(frames)) { return Promise.resolve(); }
    var since = new Date(Date.now() - 12 * 7 * 86400000).toISOString();
    return getJSON(cfg.api + "/analysis/hexagons/slices?step=week&since=" + encodeURIComponent(since))
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
     compliance for the filter's days (default today), at most a week. */
  var uploaded = false, storedQuery = null;
  function localDay(date) {
    var d = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
    return d.toISOString().slice(0, 10);
  }
  function loadStoredPatrols() {
    if (uploaded || !(map.hasLayer(trackLayer) || map.hasLayer(complianceLayer))) { return; }
    var until = filters.until || localDay(new Date());
    var query = "since=" + (filters.since || until) + "&until=" + until;
    if (query === storedQuery) { return; }
    storedQuery = query;
    var status = document.getElementById("g-status");
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
      status.textContent = found[0].features.length ? "" : t.noTracks;
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
        "<label>" + t.category + " " + select("f-category", [["", t.all]].concat(
          cfg.categories.map(function (c) { return [c.code, c.name]; }))) + "</label><br>" +
        "<label>" + t.status + " " + select("f-status", [["open", t.openOnly], ["", t.all]].concat(
          cfg.statuses.map(function (s) { return [s.key, s.name]; }))) + "</label><br>" +
        "<span id='geogrid-hint' class='hint'></span>";
      L.DomEvent.disableClickPropagation(div);
      return div;
    }
  });
  var legendBox = L.control({ position: "bottomright" });
  legendBox.onAdd = function () { return L.DomUtil.create("div", "geogrid-box geogrid-legend"); };
  function legend(max) {
    var div = document.querySelector(".geogrid-legend");
    if (!div) { return; }
    div.innerHTML = "<b>" + t.reportsPerGrid + "</b><br>" + RAMP.map(function (c, i) {
      var low = Math.ceil(i * (max + 1) / RAMP.length);
      return "<i style='background:" + c + "'></i> ≥ " + Math.max(1, low);
    }).join("<br>");
  }

  function refreshAll() {
    document.body.setAttribute("data-loading", "true");
    return Promise.all([refreshHeat(), refreshChoropleth(), refreshMarkers(), refreshRoutes(),
                        refreshRisk(), refreshDensity(), refreshSpots(), refreshFrames()])
      .catch(function (err) { console.warn(err); })
      .then(function () { document.body.setAttribute("data-loading", "false"); });
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

  new Filters({ position: "topleft" }).addTo(map);
  new Upload({ position: "topleft" }).addTo(map);
  document.getElementById("g-gpx").addEventListener("change", function (e) {
    var file = e.target.files[0];
    if (file) { file.text().then(uploadTracks); }
  });
  legendBox.addTo(map);
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
    return overlays;
  })(), { collapsed: false, position: "topright" }).addTo(map);

  ["f-since", "f-until", "f-category", "f-status"].forEach(function (id) {
    document.getElementById(id).addEventListener("change", function (e) {
      var key = id.slice(2);
      filters[key] = e.target.value;
      refreshAll();
    });
  });
  map.on("moveend", refreshAll);
  map.on("overlayadd", refreshAll);
  map.on("overlayadd", loadStoredPatrols);
  ["f-since", "f-until"].forEach(function (id) {
    document.getElementById(id).addEventListener("change", loadStoredPatrols);
  });
  refreshAll();
})();
