// The console dashboard's charts: each canvas names the json_script element holding its data
// ({kind, labels: [ISO hours], lines: [{key, label, values}]}); Chart.js (static/vendor, global
// `Chart`) draws it, with a 24 hours / 7 days switch. Without this script the page keeps its
// figures in words and a table per chart.
(function () {
  "use strict";
  if (typeof window.Chart === "undefined") return;

  // Distinguishable in light and dark themes, and for common colour blindness (Okabe-Ito).
  var COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"];
  var WINDOWS = [
    { hours: 24, label: "24 hours" },
    { hours: 168, label: "7 days" },
  ];

  function hourLabel(iso, hours) {
    var d = new Date(iso);
    var hh = String(d.getUTCHours()).padStart(2, "0") + ":00";
    if (hours <= 24) return hh;
    return ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"][d.getUTCDay()] + " " + hh;
  }

  function textColour() {
    return getComputedStyle(document.body).getPropertyValue("--body-fg").trim() || "#333";
  }

  function datasets(data, hours) {
    return data.lines.map(function (line, n) {
      var colour = COLOURS[n % COLOURS.length];
      return {
        label: line.label,
        data: line.values.slice(-hours),
        backgroundColor: colour,
        borderColor: colour,
        borderWidth: data.kind === "line" ? 2 : 0,
        pointRadius: 0,
        spanGaps: false,
      };
    });
  }

  function draw(canvas) {
    var source = document.getElementById(canvas.dataset.chart);
    if (!source) return;
    var data = JSON.parse(source.textContent);
    var box = canvas.parentElement;
    var hours = 24;
    var colour = textColour();
    var stacked = data.kind === "bar";
    var chart = new window.Chart(canvas, {
      type: data.kind,
      data: {
        labels: data.labels.slice(-hours).map(function (l) { return hourLabel(l, hours); }),
        datasets: datasets(data, hours),
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { stacked: stacked, ticks: { color: colour, maxRotation: 0, autoSkip: true } },
          y: { stacked: stacked, beginAtZero: true, ticks: { color: colour, precision: 0 } },
        },
        plugins: { legend: { labels: { color: colour } } },
      },
    });

    // The window switch: two buttons, the pressed one says which window is drawn.
    var group = document.createElement("div");
    group.className = "dashboard-window";
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", "Chart window");
    WINDOWS.forEach(function (w) {
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = w.label;
      button.setAttribute("aria-pressed", String(w.hours === hours));
      button.addEventListener("click", function () {
        chart.data.labels = data.labels.slice(-w.hours).map(function (l) {
          return hourLabel(l, w.hours);
        });
        chart.data.datasets = datasets(data, w.hours);
        chart.update();
        group.querySelectorAll("button").forEach(function (b) {
          b.setAttribute("aria-pressed", String(b === button));
        });
        canvas.dataset.window = String(w.hours);
      });
      group.appendChild(button);
    });
    box.parentElement.insertBefore(group, box);
    canvas.dataset.window = String(hours);
    canvas.dataset.drawn = "true";
  }

  function start() {
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      canvas.parentElement.hidden = false; // before drawing: Chart.js sizes to its box
      draw(canvas);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
