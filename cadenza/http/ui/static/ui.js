/* cadenza dashboard: local times, the time-range filter, and the run graph (cytoscape + dagre).
   No framework, no build step; htmx does the requests. */
(function () {
  "use strict";

  function localize(root) {
    root.querySelectorAll("time.ts[data-ms]").forEach(function (el) {
      var when = new Date(Number(el.dataset.ms));
      el.title = el.getAttribute("datetime");
      el.textContent = when.toLocaleString();
    });
  }

  function pad(n) { return String(n).padStart(2, "0"); }
  function toLocalInput(ms) {
    var d = new Date(ms);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }

  // The start-time range is typed in the browser's zone and sent as epoch milliseconds.
  function wireFilters() {
    var form = document.getElementById("filters");
    if (!form) return;
    form.querySelectorAll("input[data-epoch-field]").forEach(function (input) {
      var hidden = form.querySelector("input[name='" + input.dataset.epochField + "']");
      if (hidden && hidden.value) input.value = toLocalInput(Number(hidden.value));
    });
    form.addEventListener("submit", function () {
      form.querySelectorAll("input[data-epoch-field]").forEach(function (input) {
        var hidden = form.querySelector("input[name='" + input.dataset.epochField + "']");
        hidden.value = input.value ? String(new Date(input.value).getTime()) : "";
      });
      // leave empty fields out of the URL
      form.querySelectorAll("input[name], select[name]").forEach(function (el) {
        if (!el.value) el.disabled = true;
      });
    });
  }

  var COLOURS = {
    COMPLETED: "#1e8e3e", FAILED: "#c5221f", FAILED_WITH_TERMINAL_ERROR: "#c5221f",
    TIMED_OUT: "#c5221f", IN_PROGRESS: "#1a73e8", SCHEDULED: "#e8a317",
    CANCELED: "#9aa0a6", SKIPPED: "#9aa0a6", COMPLETED_WITH_ERRORS: "#f29900",
    NOT_STARTED: "#ffffff"
  };

  function style() {
    var rules = [
      { selector: "node", style: {
        "label": "data(label)", "text-wrap": "wrap", "text-valign": "center", "text-halign": "center",
        "font-size": 11, "shape": "round-rectangle", "width": 140, "height": 44,
        "background-color": "#ffffff", "border-width": 1, "border-color": "#9aa0a6", "color": "#1d2330" } },
      { selector: "node[type = 'TERMINAL']", style: { "shape": "ellipse", "width": 60, "height": 30 } },
      { selector: "node[type = 'SWITCH'], node[type = 'DECISION']", style: { "shape": "diamond", "width": 110, "height": 60 } },
      { selector: "node[type = 'FORK_JOIN'], node[type = 'JOIN'], node[type $= '_END'], node[type = 'DO_WHILE']",
        style: { "shape": "rectangle", "height": 22, "width": 150 } },
      { selector: "node[child]", style: { "border-style": "double", "border-width": 4 } },
      { selector: "edge", style: { "width": 1.5, "line-color": "#c3c7cf", "target-arrow-shape": "triangle",
        "target-arrow-color": "#c3c7cf", "curve-style": "bezier" } },
      { selector: "edge[?executed]", style: { "line-color": "#5f6368", "target-arrow-color": "#5f6368" } },
      { selector: "edge[kind = 'loop']", style: { "line-style": "dashed" } },
      { selector: "edge[label]", style: { "label": "data(label)", "font-size": 10, "color": "#5f6368",
        "text-background-color": "#ffffff", "text-background-opacity": 1, "text-background-padding": 2 } }
    ];
    Object.keys(COLOURS).forEach(function (status) {
      var light = status === "NOT_STARTED";
      rules.push({ selector: "node[status = '" + status + "']", style: {
        "background-color": COLOURS[status], "color": light ? "#1d2330" : "#ffffff",
        "border-color": light ? "#9aa0a6" : COLOURS[status] } });
    });
    return rules;
  }

  function drawGraph(el) {
    if (typeof cytoscape === "undefined") return;
    try { if (typeof cytoscapeDagre !== "undefined") cytoscape.use(cytoscapeDagre); } catch (e) { /* registered */ }
    var cy = null;
    var url = el.dataset.url;
    var runBase = el.dataset.runBase;

    function elements(graph) {
      return graph.nodes.map(function (n) { return { group: "nodes", data: n }; }).concat(
        graph.edges.map(function (e) { return { group: "edges", data: e }; }));
    }

    function update(graph) {
      if (cy === null) {
        cy = cytoscape({ container: el, elements: elements(graph), style: style(),
          layout: { name: "dagre", rankDir: "TB", nodeSep: 30, rankSep: 40 },
          wheelSensitivity: 0.2, boxSelectionEnabled: false, autoungrabify: true, maxZoom: 2 });
        // the box grows with the graph (up to 1000 px), so labels stay legible at zoom 1
        var box = cy.elements().boundingBox();
        el.style.height = Math.min(Math.max(box.h + 40, 160), 1000) + "px";
        cy.resize();
        cy.fit(undefined, 20);
        if (cy.zoom() > 1) { cy.zoom(1); cy.center(); }
        cy.on("tap", "node[child]", function (evt) {
          if (runBase) window.location.href = runBase + encodeURIComponent(evt.target.data("child"));
        });
        window.cadenzaGraph = cy;
      } else {
        graph.nodes.forEach(function (n) {
          var node = cy.getElementById(n.id);
          if (node.nonempty()) { node.data("status", n.status); if (n.child) node.data("child", n.child); }
        });
        graph.edges.forEach(function (e) {
          var edge = cy.getElementById(e.id);
          if (edge.nonempty()) edge.data("executed", e.executed);
        });
      }
      el.dataset.status = graph.status || "";
      el.dataset.ready = "true";
      return graph.terminal;
    }

    function refresh() {
      if (document.hidden) { setTimeout(refresh, 2000); return; }
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
        .then(function (graph) { if (!update(graph) && runBase) setTimeout(refresh, 2000); })
        .catch(function () { setTimeout(refresh, 5000); });
    }
    refresh();
  }

  document.addEventListener("DOMContentLoaded", function () {
    localize(document);
    wireFilters();
    var graph = document.getElementById("graph");
    if (graph) drawGraph(graph);
  });
  // A poll re-renders a fragment: keep the <details> the reader opened open.
  var opened = [];
  document.addEventListener("htmx:beforeSwap", function (evt) {
    opened = Array.prototype.map.call(
      evt.detail.target.querySelectorAll("details[data-key][open]"), function (d) { return d.dataset.key; });
  });
  document.addEventListener("htmx:afterSwap", function (evt) {
    opened.forEach(function (key) {
      evt.detail.target.querySelectorAll("details[data-key]").forEach(function (d) {
        if (d.dataset.key === key) d.open = true;
      });
    });
  });
  if (window.htmx) htmx.onLoad(function (elt) { localize(elt); });
})();
