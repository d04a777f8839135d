/* Assessment statistics (web/stats.py serves the page and its API).
 *
 * The form asks GET /api/stats/assessment for a level (or grid workers or
 * departments) and a period; the answer fills the table (click a heading to sort),
 * a bar chart of closure and on-time rates per row and a line chart of reports
 * received and closed per week. The export links carry the same query.
 * Chart.js is served from this server (static/vendor/chartjs). Settings come from
 * window.STATS. */
(function () {
  "use strict";
  var cfg = window.STATS;
  var t = cfg.texts;
  var rates = {};
  cfg.rates.forEach(function (c) { rates[c] = true; });
  var charts = {};
  var rows = [];
  var sort = { column: null, down: false };
  var $ = function (id) { return document.getElementById(id); };

  function query() {
    var form = new URLSearchParams();
    ["level", "by", "since", "until"].forEach(function (name) {
      var value = $("st-" + name).value;
      if (value) { form.set(name, value); }
    });
    return form.toString();
  }

  function say(text, isError) {
    var box = $("st-message");
    box.textContent = text || "";
    box.className = isError ? "error" : "";
  }

  function load() {
    var q = query();
    $("st-xlsx").href = cfg.api + "/assessment.xlsx?" + q;
    $("st-csv").href = cfg.api + "/assessment.csv?" + q;
    $("st-level").disabled = $("st-by").value !== "grid";
    say(t.loading);
    document.body.dataset.ready = "false";
    return fetch(cfg.api + "/assessment?" + q, { credentials: "same-origin" })
      .then(function (r) {
        return r.json().then(function (body) {
          if (!r.ok) { throw new Error((body.error && body.error.message) || r.statusText); }
          return body;
        });
      })
      .then(function (body) {
        rows = body.rows;
        table(body.columns);
        rateChart();
        trendChart(body.trend);
        say(t.rows.replace("{n}", rows.length));
      })
      .catch(function (error) { say(String(error.message || error), true); })
      .then(function () { document.body.dataset.ready = "true"; });
  }

  function shown(column, value) {
    if (value === null || value === undefined) { return t.none; }
    if (rates[column]) { return (value * 100).toFixed(1) + "%"; }
    return String(value);
  }

  function table(columns) {
    var head = document.createElement("tr");
    columns.forEach(function (column) {
      var th = document.createElement("th");
      th.textContent = cfg.labels[column] || column;
      th.title = column;
      th.addEventListener("click", function () { sortBy(column, columns); });
      head.appendChild(th);
    });
    $("st-table").tHead.replaceChildren(head);
    var body = document.createDocumentFragment();
    rows.forEach(function (row) {
      var tr = document.createElement("tr");
      tr.dataset.code = row.code;  // tests and links find a unit's row by its code
      columns.forEach(function (column) {
        var td = document.createElement("td");
        td.dataset.column = column;
        var value = row[column];
        td.textContent = shown(column, value);
        if (typeof value === "number") { td.className = "num"; }
        if (rates[column] && value !== null && value < 0.8) { td.className += " low"; }
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    $("st-table").tBodies[0].replaceChildren(body);
  }

  function sortBy(column, columns) {
    sort.down = sort.column === column ? !sort.down : true;
    sort.column = column;
    rows.sort(function (a, b) {
      var x = a[column], y = b[column];
      if (x === y) { return 0; }
      if (x === null) { return 1; }
      if (y === null) { return -1; }
      return (x < y ? -1 : 1) * (sort.down ? -1 : 1);
    });
    table(columns);
  }

  function chart(id, config) {
    if (charts[id]) { charts[id].destroy(); }
    charts[id] = new window.Chart($(id), config);
  }

  function percent(value) { return value === null ? null : Math.round(value * 1000) / 10; }

  function rateChart() {
    chart("st-rates", {
      type: "bar",
      data: {
        labels: rows.map(function (r) { return r.name || r.code; }),
        datasets: [
          { label: t.closure_rate, data: rows.map(function (r) { return percent(r.closure_rate); }),
            backgroundColor: "#2166ac" },
          { label: t.on_time_rate, data: rows.map(function (r) { return percent(r.on_time_rate); }),
            backgroundColor: "#1a9850" }
        ]
      },
      options: { maintainAspectRatio: false, animation: false,
                 scales: { y: { min: 0, max: 100, ticks: { callback: function (v) { return v + "%"; } } } } }
    });
  }

  function trendChart(trend) {
    chart("st-trend", {
      type: "line",
      data: {
        labels: trend.map(function (w) { return w.week.slice(0, 10); }),
        datasets: [
          { label: t.received, data: trend.map(function (w) { return w.received; }),
            borderColor: "#d6604d", backgroundColor: "#d6604d" },
          { label: t.closed, data: trend.map(function (w) { return w.closed; }),
            borderColor: "#4393c3", backgroundColor: "#4393c3" }
        ]
      },
      options: { maintainAspectRatio: false, animation: false, scales: { y: { beginAtZero: true } } }
    });
  }

  $("st-form").addEventListener("submit", function (event) {
    event.preventDefault();
    load();
  });
  $("st-by").addEventListener("change", load);
  $("st-level").addEventListener("change", load);
  load();
})();
