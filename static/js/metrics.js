// Draws the metrics page's charts from the JSON the server embedded.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("chart-data").textContent);
  const charts = [];
  function chart(id, config) {
    const canvas = document.getElementById(id);
    if (canvas) charts.push(new Chart(canvas, config));
  }
  chart("chart-uploads", { type: "bar", data: { labels: data.hours, datasets: [{ label: "uploads", data: data.uploads }] },
    options: { animation: false, plugins: { legend: { display: false } } } });
  chart("chart-rates", { type: "doughnut", data: { labels: ["approve", "reject", "review"],
    datasets: [{ data: data.rates, backgroundColor: ["#1b7f3a", "#b3261e", "#8a6d00"] }] }, options: { animation: false } });
  chart("chart-moderators", { type: "bar", data: { labels: data.moderators, datasets: [{ label: "decisions", data: data.decisions }] },
    options: { animation: false, indexAxis: "y", plugins: { legend: { display: false } } } });
  chart("chart-models", { type: "line", data: { labels: data.versions, datasets: [
    { label: "test accuracy", data: data.test_accuracy }, { label: "confirmed by reviewers", data: data.review_accuracy }] },
    options: { animation: false, scales: { y: { min: 0, max: 1 } } } });
  document.body.dataset.chartsRendered = String(charts.length);
})();
