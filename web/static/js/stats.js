// The statistics page's charts (Chart.js), drawn from the same figures as the tables under them.
// The figures and the page's words come as JSON elements; nothing here is page text.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("stats-data").textContent);
  var T = JSON.parse(document.getElementById("page-strings").textContent);
  var palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173"];

  Chart.defaults.animation = false; // drawn at once: nothing moves while staff read the numbers
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.maintainAspectRatio = false;

  function canvasIn(name, rows) {
    var box = document.querySelector('[data-chart="' + name + '"]');
    if (!box || !rows) { return null; }
    if (name === "by_area") { box.style.height = Math.max(220, rows * 26 + 70) + "px"; }
    var canvas = document.createElement("canvas");
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", box.parentNode.querySelector("h3").textContent);
    box.appendChild(canvas);
    return canvas;
  }

  function datasets(series, colours) {
    return series.map(function (s, i) {
      var colour = colours ? colours[i % colours.length] : palette[i % palette.length];
      return { label: s.label, data: s.data, backgroundColor: colour, borderColor: colour };
    });
  }

  var byCategory = data.by_category;
  var canvas = canvasIn("by_category", byCategory.labels.length);
  if (canvas) {
    new Chart(canvas, {
      type: "bar",
      data: { labels: byCategory.labels, datasets: datasets(byCategory.series) },
      options: {
        scales: {
          x: { stacked: true, title: { display: true, text: T.period } },
          y: { stacked: true, beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: T.issues } }
        },
        plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } }
      }
    });
  }

  var byArea = data.by_area;
  canvas = canvasIn("by_area", byArea.labels.length);
  if (canvas) {
    new Chart(canvas, {
      type: "bar",
      data: { labels: byArea.labels, datasets: datasets(byArea.series, ["#3b6ea5", "#2a9d8f", "#c0392b"]) },
      options: {
        indexAxis: "y",
        scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
        plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } }
      }
    });
  }

  var onTime = data.on_time;
  canvas = canvasIn("on_time", onTime.labels.length);
  if (canvas) {
    new Chart(canvas, {
      type: "bar",
      data: { labels: onTime.labels, datasets: datasets(onTime.series, ["#2a9d8f"]) },
      options: {
        scales: { y: { beginAtZero: true, max: 100, title: { display: true, text: T.rate } } },
        plugins: { legend: { display: false } }
      }
    });
  }
}());
