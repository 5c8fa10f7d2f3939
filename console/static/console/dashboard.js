/* The dashboard's charts, drawn with Chart.js (served from our own static files) from the series the page embeds. */
(function () {
  "use strict";

  function draw() {
    var source = document.getElementById("dashboard-series");
    if (!source || typeof Chart === "undefined") {
      return;
    }
    var series = JSON.parse(source.textContent);
    var names = {sms: "SMS sent", inbound: "SMS received", ussd: "USSD sessions", voice: "Calls", airtime: "Airtime"};
    var colours = {sms: "#417690", inbound: "#79aec8", ussd: "#e0a800", voice: "#5b9a3c", airtime: "#ba2121"};
    var datasets = Object.keys(series.volumes).map(function (key) {
      return {label: names[key] || key, data: series.volumes[key], backgroundColor: colours[key] || "#999", stack: "v"};
    });
    var volumes = new Chart(document.getElementById("chart-volumes"), {
      type: "bar",
      data: {labels: series.labels, datasets: datasets},
      options: {responsive: true, animation: false, scales: {x: {stacked: true}, y: {stacked: true, beginAtZero: true}}}
    });
    var delivery = new Chart(document.getElementById("chart-delivery"), {
      type: "line",
      data: {
        labels: series.labels,
        datasets: [{
          label: "Delivery rate",
          data: series.sms_delivery_rate.map(function (v) { return v === null ? null : Math.round(v * 1000) / 10; }),
          borderColor: "#417690",
          spanGaps: true
        }]
      },
      options: {responsive: true, animation: false, scales: {y: {min: 0, max: 100, ticks: {callback: function (v) { return v + " %"; }}}}}
    });
    document.getElementById("dashboard").dataset.chartsDrawn = String([volumes, delivery].length);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
