// Charts with uPlot (small, fast, canvas). Every chart comes with its data
// as a table (in a <details> under it), so no figure is shown only as a
// line, and screen readers and printouts get the numbers.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

import { esc, utc } from './format.js';

const live = new Set();

function widthOf(el) {
  return Math.max(320, Math.floor(el.clientWidth || el.parentElement?.clientWidth || 640));
}

let resizeTimer = 0;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    for (const chart of live) {
      if (!chart.root.isConnected) {
        chart.destroy();
        live.delete(chart);
        continue;
      }
      chart.setSize({ width: widthOf(chart.root.parentElement), height: chart.height });
    }
  }, 150);
});

// Removes charts whose elements left the page (after a view change).
export function collectCharts() {
  for (const chart of live) {
    if (!chart.root.isConnected) {
      chart.destroy();
      live.delete(chart);
    }
  }
}

// A time-series line chart.
//   el:      container element (the chart fills its width)
//   xs:      times in milliseconds
//   series:  [{ label, values, color, dash?, fill? }]
//   yFormat: value -> axis/legend text
//   yRange:  [min, max] or null for automatic
export function lineChart(el, { title, xs, series, yFormat, yRange = null, height = 220 }) {
  const data = [xs.map((t) => t / 1000), ...series.map((s) => s.values)];
  // Axis labels in UTC, like every time on the dashboard: hours and minutes
  // within two days, month and day beyond.
  const span = xs.length > 1 ? xs[xs.length - 1] - xs[0] : 0;
  const tick = (v) => {
    const iso = new Date(v * 1000).toISOString();
    return span > 2 * 86400e3 ? iso.slice(5, 10) : iso.slice(11, 16);
  };
  const opts = {
    title,
    width: widthOf(el),
    height,
    scales: {
      x: { time: true },
      y: yRange ? { range: () => yRange } : { auto: true },
    },
    axes: [
      { stroke: '#444', grid: { stroke: '#e6e6e6' }, values: (u, values) => values.map(tick) },
      {
        stroke: '#444',
        grid: { stroke: '#e6e6e6' },
        size: 70,
        values: (u, values) => values.map((v) => yFormat(v)),
      },
    ],
    series: [
      { label: 'time (UTC)', value: (u, v) => (v == null ? '—' : utc(v * 1000)) },
      ...series.map((s) => ({
        label: s.label,
        stroke: s.color,
        width: 2,
        dash: s.dash,
        fill: s.fill,
        spanGaps: false,
        points: { show: xs.length <= 60 },
        value: (u, v) => (v == null ? '—' : yFormat(v)),
      })),
    ],
    legend: { live: true },
  };
  const chart = new uPlot(opts, data, el);
  live.add(chart);
  return chart;
}

// The data of a chart as an HTML table: one row per time.
export function dataTable({ caption, xs, series, format, key }) {
  const head = series.map((s) => `<th scope="col">${esc(s.label)}</th>`).join('');
  const rows = xs
    .map((t, i) => {
      const cells = series
        .map((s) => {
          const v = s.values[i];
          return `<td class="num" data-k="${esc(key)}:${esc(s.key || s.label)}:${t}" data-v="${
            v == null ? '' : v
          }">${v == null ? '—' : esc(format(v))}</td>`;
        })
        .join('');
      return `<tr><th scope="row">${esc(utc(t))}</th>${cells}</tr>`;
    })
    .join('');
  return `<details class="chart-data"><summary>${esc(caption)} as a table</summary>
    <table><thead><tr><th scope="col">time</th>${head}</tr></thead><tbody>${rows}</tbody></table></details>`;
}
