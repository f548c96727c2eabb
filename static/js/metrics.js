// Draws the metrics page's charts from the JSON the server embedded. Rates
// and accuracies arrive as percentages; every chart fills its fixed-height box.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("chart-data").textContent);
  const charts = [];
  const percent = { callback: (value) => value + " %" };
  function chart(id, config) {
    const canvas = document.getElementById(id);
    if (!canvas) return;
    config.options = Object.assign({ animation: false, responsive: true, maintainAspectRatio: false }, config.options || {});
    charts.push(new Chart(canvas, config));
  }
  chart("chart-uploads", { type: "bar", data: { labels: data.hours, datasets: [{ label: "uploads", data: data.uploads, backgroundColor: "#2563eb" }] },
    options: { plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } } });
  chart("chart-rates", { type: "doughnut", data: { labels: ["approved automatically", "rejected automatically", "sent to review"],
    datasets: [{ data: data.rates, backgroundColor: ["#1b7f3a", "#b3261e", "#8a6d00"] }] },
    options: { plugins: { legend: { position: "right" },
      tooltip: { callbacks: { label: (item) => " " + item.label + ": " + item.formattedValue + " %" } } } } });
  chart("chart-moderators", { type: "bar", data: { labels: data.moderators, datasets: [{ label: "decisions", data: data.decisions, backgroundColor: "#2563eb" }] },
    options: { indexAxis: "y", plugins: { legend: { display: false } }, scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } } });
  chart("chart-models", { type: "line", data: { labels: data.versions, datasets: [
    { label: "test accuracy", data: data.test_accuracy, borderColor: "#2563eb", backgroundColor: "#2563eb" },
    { label: "confirmed by reviewers", data: data.review_accuracy, borderColor: "#1b7f3a", backgroundColor: "#1b7f3a" }] },
    options: { scales: { y: { min: 0, max: 100, ticks: percent } } } });
  document.body.dataset.chartsRendered = String(charts.length);
})();
