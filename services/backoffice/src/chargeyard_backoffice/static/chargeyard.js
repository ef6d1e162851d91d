// Charts from the JSON each page (and each htmx refresh of its live part) carries.
"use strict";
(function () {
  const charts = {};
  const powerPoints = [];

  function data(id) {
    const node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function time(ms) {
    const d = new Date(ms);
    return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function drawPower(live) {
    const canvas = document.getElementById("power-chart");
    if (!canvas || !window.Chart || !live) return;
    powerPoints.push({ at: new Date(live.at), power: live.power_w / 1000, limit: live.limit_w == null ? null : live.limit_w / 1000 });
    if (powerPoints.length > 180) powerPoints.shift();
    const labels = powerPoints.map((p) => p.at.toLocaleTimeString());
    if (!charts.power) {
      charts.power = new Chart(canvas, {
        type: "line",
        data: { labels, datasets: [
          { label: "kW", data: powerPoints.map((p) => p.power), borderColor: "#2563eb", fill: false, tension: 0.2 },
          { label: "limit kW", data: powerPoints.map((p) => p.limit), borderColor: "#dc2626", borderDash: [6, 4], pointRadius: 0 },
        ] },
        options: { animation: false, maintainAspectRatio: false, scales: { y: { beginAtZero: true } } },
      });
    } else {
      charts.power.data.labels = labels;
      charts.power.data.datasets[0].data = powerPoints.map((p) => p.power);
      charts.power.data.datasets[1].data = powerPoints.map((p) => p.limit);
      charts.power.update();
    }
  }

  function drawPlan(timeline) {
    const canvas = document.getElementById("plan-chart");
    if (!canvas || !window.Chart || !timeline) return;
    // A bar chart's value axis starts at zero unless told: the plan's own window instead.
    const ends = timeline.datasets.flatMap((d) => d.data.flatMap((p) => p.x));
    const now = Date.now();
    const min = Math.min(now, ...ends);
    const max = Math.max(now + 3600 * 1000, ...ends);
    const config = {
      type: "bar",
      data: { labels: timeline.labels, datasets: timeline.datasets },
      options: {
        indexAxis: "y", animation: false, maintainAspectRatio: false,
        scales: {
          x: { type: "linear", min, max, beginAtZero: false, ticks: { callback: (v) => time(v), maxTicksLimit: 6 } },
          y: { stacked: true },
        },
        plugins: { tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${time(c.raw.x[0])}–${time(c.raw.x[1])}, ${(c.raw.power_w / 1000).toFixed(1)} kW` } } },
      },
    };
    if (charts.plan) charts.plan.destroy();
    charts.plan = new Chart(canvas, config);
  }

  function drawReport() {
    const canvas = document.getElementById("report-chart");
    const report = data("report-data");
    if (!canvas || !window.Chart || !report) return;
    new Chart(canvas, { type: "bar", data: report, options: { maintainAspectRatio: false, scales: { y: { beginAtZero: true } } } });
  }

  let lastPlan = null;
  function refresh() {
    const live = data("live-data");
    if (!live) return;
    drawPower(live);
    const plan = JSON.stringify(live.timeline);
    if (plan !== lastPlan) { lastPlan = plan; drawPlan(live.timeline); }
  }

  document.addEventListener("DOMContentLoaded", () => { refresh(); drawReport(); });
  document.addEventListener("htmx:afterSwap", refresh);
})();
