// One business service: SLOs with attainment and error budget over the time
// range, burn-rate alerts, dependencies both ways, hosts, the health score
// explained, its cost and its measurement maturity.
import { ApiError, get, pooled, tryGet } from '../api.js';
import { dataTable, lineChart } from '../charts.js';
import {
  burn,
  duration,
  esc,
  hoursToExhaustion,
  minutes,
  money,
  ms,
  num,
  pct,
  score,
  unitCost,
  utc,
} from '../format.js';
import { badge, card, cell, centsToMoney, fig, flag, minorDigits, notice } from '../ui.js';

// The SLO charts sample the range on a grid of "nice" steps (at most about
// 24 points): each point is one GetSloStatus "as of" that time, so every
// point is the engine's own figure. Grid times stay put between refreshes,
// so past points are fetched once per page session (sloCache) and an
// auto-refresh asks only for the newest ones.
export const kMaxChartPoints = 24;
const kSteps = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080].map((m) => m * 60000);
const kColors = ['#1f5fa8', '#b3471d', '#2e7d32', '#6a1b9a', '#00838f', '#8d6e00'];
const sloCache = new Map();  // "service@at" -> GetSloStatus answer
const kCacheLimit = 5000;

// The sample times: whole multiples of the step inside the range, and the
// range's end itself.
export function sampleTimes(fromMs, toMs) {
  const length = toMs - fromMs;
  const step = kSteps.find((s) => s * kMaxChartPoints >= length) || kSteps.at(-1);
  const out = [];
  for (let t = Math.ceil(fromMs / step) * step; t < toMs; t += step) out.push(t);
  out.push(Math.floor(toMs / 1000) * 1000);
  return out;
}

async function sloAsOf(service, at, nowMs) {
  const key = `${service}@${at}`;
  if (sloCache.has(key)) return sloCache.get(key);
  const answer = await get('slo', { service, at });
  // Only points safely in the past are kept (the last minutes still change).
  if (at < nowMs - 5 * 60000) {
    if (sloCache.size >= kCacheLimit) sloCache.delete(sloCache.keys().next().value);
    sloCache.set(key, answer);
  }
  return answer;
}

function periodText(periodMs) {
  const days = Number(periodMs) / 86400e3;
  return Number.isInteger(days) ? `${days} d` : duration(periodMs);
}

function sloTable(slos, key) {
  if (slos.length === 0) return notice('No SLO is defined for this service (see docs/catalog.md).');
  const rows = slos
    .map((s) => {
      const k = `${key}:slo:${s.slo}`;
      return `<tr><th scope="row">${esc(s.slo)} <span class="muted small">${esc(s.sli)}</span></th>
        ${cell(`${k}:target`, s.target, pct(s.target))}
        ${cell(`${k}:attainment`, s.attainment, pct(s.attainment))}
        <td>${s.breached ? badge('critical', 'missed') : s.has_data ? badge('healthy', 'met') : badge('no data', 'no data')}</td>
        ${cell(`${k}:budget`, s.budget_remaining_ratio, pct(s.budget_remaining_ratio, 1))}
        ${cell(`${k}:budget-minutes`, s.budget_minutes_remaining, minutes(s.budget_minutes_remaining))}
        ${cell(`${k}:burn`, s.burn_rate, burn(s.burn_rate))}
        ${cell(`${k}:exhaustion`, s.hours_to_exhaustion, hoursToExhaustion(s.hours_to_exhaustion))}
        <td class="small">${esc(periodText(s.period_ms))}, ${esc(utc(s.from_ms))} – ${esc(utc(s.to_ms))}</td>
        ${cell(`${k}:good`, s.good, num(s.good, 0))}${cell(`${k}:valid`, s.valid, num(s.valid, 0))}
      </tr>`;
    })
    .join('');
  return `<table><thead><tr><th scope="col">SLO</th><th scope="col" class="num">Objective</th>
    <th scope="col" class="num">Attainment</th><th scope="col">Met?</th>
    <th scope="col" class="num">Budget left</th><th scope="col" class="num">Budget left (time)</th>
    <th scope="col" class="num">Burn rate (1 h)</th><th scope="col" class="num">Budget gone in</th>
    <th scope="col">SLO period</th><th scope="col" class="num">Good</th><th scope="col" class="num">Valid</th>
    </tr></thead><tbody>${rows}</tbody></table>`;
}

function alertTable(slos) {
  const rows = [];
  for (const s of slos) {
    for (const a of s.alerts) {
      const state = a.firing
        ? flag('bad', 'FIRING')
        : a.gated
          ? flag('none', 'quiet: too little traffic')
          : flag('ok', 'not firing');
      rows.push(`<tr class="${a.firing ? 'firing' : ''}"><th scope="row">${esc(s.slo)}</th>
        <td>${esc(a.severity)}</td><td>${esc(duration(a.long_window_ms))} / ${esc(duration(a.short_window_ms))}</td>
        <td class="num">${esc(burn(a.threshold))}</td><td class="num">${esc(burn(a.long_burn))}</td>
        <td class="num">${esc(burn(a.short_burn))}</td><td>${state}</td><td>${esc(a.message)}</td></tr>`);
    }
  }
  if (rows.length === 0) return notice('No burn-rate alerts (no SLO).');
  return `<table><thead><tr><th scope="col">SLO</th><th scope="col">Severity</th>
    <th scope="col">Windows (long / short)</th><th scope="col" class="num">Threshold</th>
    <th scope="col" class="num">Long burn</th><th scope="col" class="num">Short burn</th>
    <th scope="col">State</th><th scope="col">What it means</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

export async function load(ctx) {
  const { state, range } = ctx;
  const id = state.id;
  const at = range.relative ? undefined : range.toMs;
  const [catalog, health, slo, incidents, impact, cost, maturity] = await Promise.all([
    get('services'),
    get('health', { at }),
    get('slo', { service: id, at }),
    tryGet('incidents', { from: range.fromMs, to: range.toMs }),
    tryGet('impact', { from: range.fromMs, to: range.toMs, service: id }),
    tryGet('chargeback', { month: ctx.month }),
    tryGet('maturity'),
  ]);
  const svc = catalog.services.find((s) => s.id === id);
  if (!svc) throw new ApiError(404, 'not_found', `unknown service "${id}"`, '/api/v1/services');
  const healthBy = new Map(health.services.map((h) => [h.service, h]));
  const h = healthBy.get(id);
  const names = new Map(catalog.services.map((s) => [s.id, s.name || s.id]));
  const unit = catalog.business_units.find((u) => u.id === svc.business_unit);
  const slos = slo.slos;
  const key = `svc:${id}`;

  // The charts are filled in after the page shows (mount), point by point.
  const times = sampleTimes(range.fromMs, range.toMs);

  // Dependencies both ways, with the health of each.
  const upstream = svc.depends_on;
  const downstream = catalog.services.filter((s) => s.depends_on.includes(id)).map((s) => s.id);
  const depDetail = new Map((h?.dependencies || []).map((d) => [d.service, d]));
  const depRow = (other, dir) => {
    const oh = healthBy.get(other);
    const d = dir === 'up' ? depDetail.get(other) : null;
    return `<tr><th scope="row"><a href="${esc(ctx.link('service', other))}">${esc(names.get(other) || other)}</a></th>
      <td>${oh ? badge(oh.status) : '—'}</td>${
        oh && oh.has_score ? cell(`dep:${other}:health`, oh.score, score(oh.score)) : '<td class="num">—</td>'
      }<td>${d ? `${d.hard ? 'hard' : 'soft'}, weight ${num(d.weight, 2)}` : ''}</td></tr>`;
  };
  const depTable = (list, dir, empty) =>
    list.length === 0
      ? notice(empty)
      : `<table><thead><tr><th scope="col">Service</th><th scope="col">Status</th>
        <th scope="col" class="num">Health</th><th scope="col">Kind</th></tr></thead>
        <tbody>${list.map((o) => depRow(o, dir)).join('')}</tbody></table>`;

  // What the catalog says belongs to the service.
  const componentRows = (svc.components || [])
    .map((c) => {
      const parts = [];
      if ((c.hosts || []).length) parts.push(`hosts ${c.hosts.join(', ')}`);
      if (c.process) parts.push(`process ${c.process}`);
      if (c.probe) parts.push(`probe ${c.probe}`);
      if (c.log) parts.push(`access log ${c.log}`);
      if ((c.metrics || []).length) parts.push(`metrics ${c.metrics.join(', ')}`);
      return `<tr><th scope="row">${esc(c.id)}</th><td>${esc(parts.join('; '))}</td></tr>`;
    })
    .join('');
  const componentsHtml = componentRows
    ? `<table><thead><tr><th scope="col">Component</th><th scope="col">Measured by</th></tr></thead>
       <tbody>${componentRows}</tbody></table>`
    : notice('The catalog names no components for this service.');
  const demo = svc.metadata && svc.metadata.demo
    ? `<p class="notice demo" role="note"><strong>Demo data:</strong> ${esc(svc.metadata.demo)}.</p>`
    : '';

  // Hosts and cost, from this month's chargeback lines.
  let costHtml;
  let hostsHtml;
  if (cost.error) {
    costHtml = notice(`Cost: ${cost.error.message}`);
    hostsHtml = notice(`Hosts come from the chargeback: ${cost.error.message}`);
  } else {
    const currency = cost.currency;
    const digits = minorDigits(cost.total);
    const mine = cost.lines.filter((l) => l.service === id);
    const line = cost.services.find((s) => s.service === id);
    const byResource = new Map();
    const byHost = new Map();
    for (const l of mine) {
      const rk = `${l.category}/${l.resource}`;
      byResource.set(rk, (byResource.get(rk) || 0) + Number(l.cents));
      const hk = byHost.get(l.host) || { cents: 0, cls: l.host_class, methods: new Set() };
      hk.cents += Number(l.cents);
      hk.methods.add(l.allocation_method);
      byHost.set(l.host, hk);
    }
    const cards = line
      ? `<div class="cards">
          ${card(`Cost ${ctx.month}`, `${key}:cost`, line.cost, money(line.cost, currency))}
          ${card(
            'Cost / 1,000 transactions',
            `${key}:cpk`,
            line.has_cost_per_1000 ? line.cost_per_1000_transactions : '',
            line.has_cost_per_1000 ? unitCost(line.cost_per_1000_transactions, currency) : 'no transactions',
          )}
          ${card('Transactions', `${key}:transactions`, line.transactions, num(line.transactions))}
          ${card('Revenue served', `${key}:revenue`, line.revenue, money(line.revenue, currency))}
          ${card(
            'Value per cost',
            `${key}:value-per-cost`,
            line.has_value_per_cost ? line.value_per_cost : '',
            line.has_value_per_cost ? `${num(line.value_per_cost, 1)}×` : '—',
          )}
          ${
            line.has_change
              ? card('Month over month', `${key}:change`, line.change_percent, `${num(line.change_percent, 1)}%`,
                  `from ${esc(money(line.previous_cost, currency))}`)
              : ''
          }
        </div>`
      : notice(`No cost is allocated to this service in ${ctx.month}.`);
    const resourceRows = [...byResource.entries()]
      .sort()
      .map(([rk, cents]) => `<tr><th scope="row">${esc(rk.replace('/', ' · '))}</th>${cell(
        `${key}:cost:${rk}`,
        centsToMoney(cents, digits),
        money(centsToMoney(cents, digits), currency),
      )}</tr>`)
      .join('');
    costHtml = `${cards}${
      resourceRows
        ? `<table class="narrow"><thead><tr><th scope="col">Category · resource</th><th scope="col" class="num">Cost</th></tr></thead>
           <tbody>${resourceRows}</tbody></table>`
        : ''
    }`;
    const hostRows = [...byHost.entries()]
      .sort()
      .map(([host, x]) => `<tr><th scope="row">${esc(host)}</th><td>${esc(x.cls || '—')}</td>
        <td>${esc([...x.methods].join(', '))}</td>${cell(`${key}:host:${host}`, centsToMoney(x.cents, digits), money(centsToMoney(x.cents, digits), currency))}</tr>`)
      .join('');
    hostsHtml = hostRows
      ? `<table><thead><tr><th scope="col">Host</th><th scope="col">Class</th><th scope="col">Allocation</th>
         <th scope="col" class="num">Cost ${esc(ctx.month)}</th></tr></thead><tbody>${hostRows}</tbody></table>`
      : notice(`No host is charged to this service in ${ctx.month}.`);
  }

  // Health explained.
  const indicatorRows = (h?.indicators || [])
    .map((i) => `<tr><th scope="row">${esc(i.slo)}</th><td>${esc(i.sli)}</td><td class="num">${num(i.importance, 1)}</td>
      <td>${i.critical ? 'yes' : 'no'}</td><td>${i.has_data ? 'yes' : 'no data in the hour'}</td>
      <td class="num">${i.has_data ? esc(burn(i.burn_rate)) : '—'}</td>${
        i.has_data ? cell(`${key}:indicator:${i.slo}`, i.score, score(i.score)) : '<td class="num">—</td>'
      }</tr>`)
    .join('');

  // Maturity.
  let maturityHtml;
  const m = (maturity.services || []).find((x) => x.service === id);
  if (maturity.error) {
    maturityHtml = notice(`Maturity: ${maturity.error.message}`);
  } else if (!m) {
    maturityHtml = notice('No maturity figure for this service.');
  } else {
    const check = (ok, text) => `<li>${ok ? flag('ok', 'yes') : flag('bad', 'no')} ${esc(text)}</li>`;
    maturityHtml = `<p class="big">Level ${fig(`${key}:maturity`, m.level, `${m.level} of 5`)}</p>
      <ul class="checks">
        ${check(m.component_data, '1 · data arrives for its components')}
        ${check(m.slo_defined, '2 · an SLO is defined')}
        ${check(m.usage_measured, '3 · usage is measured (a request SLI has events)')}
        ${check(m.cost_mapped, '4 · cost is mapped (rate card and a host that reports usage)')}
        ${check(m.completeness >= 0.99, `5 · data covers ${pct(m.completeness, 1)} of the window (99% needed)`)}
      </ul>
      <p>${m.level >= 5 ? 'Fully measured.' : `<strong>Next:</strong> ${esc(m.next_step)}`}
        <span class="muted">(over the last ${esc(duration(maturity.window_ms))})</span></p>`;
  }

  // Impact in the range and the incidents that touched the service.
  let impactHtml;
  if (impact.error) {
    impactHtml = notice(`Impact: ${impact.error.message}`);
  } else {
    const x = impact.services.find((y) => y.service === id);
    impactHtml = x
      ? `<div class="cards">
          ${card('Degraded time', `${key}:impact:degraded`, x.degraded_minutes, minutes(x.degraded_minutes))}
          ${card('Failed requests', `${key}:impact:failed`, x.failed_requests, num(x.failed_requests))}
          ${card('Users affected', `${key}:impact:users`, x.users_affected, num(x.users_affected))}
          ${card('Revenue at risk', `${key}:impact:revenue`, x.revenue_at_risk, money(x.revenue_at_risk, impact.currency))}
        </div>${x.propagated_only ? notice(`All of it came through ${x.via}.`) : ''}`
      : notice('No failure in this range.');
  }
  const touched = (incidents.incidents || []).filter((i) => i.affected_services.includes(id));
  const incidentRows = touched
    .map((i) => `<tr><th scope="row"><a href="${esc(ctx.link('incident', i.id))}">${esc(i.title || i.id)}</a></th>
      <td>${i.open ? badge('critical', 'open') : badge('healthy', 'closed')}</td><td>${esc(utc(i.from_ms))}</td>
      <td>${esc(duration(ms(i.to_ms) - ms(i.from_ms)))}</td></tr>`)
    .join('');

  const html = `
    <nav class="crumbs no-print"><a href="${esc(ctx.link('overview'))}">Overview</a> › ${esc(unit?.name || svc.business_unit || 'external')}</nav>
    ${demo}
    <h1>${esc(svc.name || svc.id)} ${h ? badge(h.status) : ''}</h1>
    <p class="lede">${esc(unit?.name || 'external')} · owner ${esc(svc.owner || '—')} · tier ${esc(svc.tier || '—')}
      · ${svc.value_per_transaction > 0
        ? `value ${esc(money(svc.value_per_transaction, catalog.currency))} per transaction`
        : `revenue ${esc(money(svc.revenue_per_hour, catalog.currency))}/h`} · ${esc(num(svc.users))} users</p>
    <div class="cards">
      ${card('Health score', `${key}:health`, h?.has_score ? h.score : '', h?.has_score ? score(h.score) : '—', h ? badge(h.status) : '')}
      ${card('Open incidents', `${key}:open`, touched.filter((i) => i.open).length, num(touched.filter((i) => i.open).length))}
    </div>

    <section><h2>Objectives</h2>${sloTable(slos, key)}</section>

    <section class="charts"><h2>Attainment and error budget, ${esc(utc(range.fromMs))} – ${esc(utc(range.toMs))}</h2>
      <p class="muted small">The SLI per step: the share of good events (or minutes) in each step of the range.
        Then each point is the SLO as of that time: attainment over the SLO period ending then, and the share of
        the period's error budget left.</p>
      ${
        slos.length
          ? `<div class="chart" id="chart-sli"></div><div id="table-sli"></div>
             <div class="chart" id="chart-attainment"></div><div id="table-attainment"></div>
             <div class="chart" id="chart-budget"></div><div id="table-budget"></div>
             <p class="muted small" id="charts-status" role="status">Loading ${times.length} points…</p>`
          : notice('No SLO, no chart.')
      }
    </section>

    <section><h2>Burn-rate alerts</h2>${alertTable(slos)}</section>

    <div class="two">
      <section><h2>Depends on (upstream)</h2>${depTable(upstream, 'up', 'Depends on no other service.')}</section>
      <section><h2>Depended on by (downstream)</h2>${depTable(downstream, 'down', 'No service depends on it.')}</section>
    </div>

    <section><h2>Health score explained</h2>
      <p class="explanation" data-k="${esc(key)}:explanation">${esc(h?.explanation || '—')}</p>
      ${
        indicatorRows
          ? `<table><thead><tr><th scope="col">SLO</th><th scope="col">SLI</th><th scope="col" class="num">Importance</th>
             <th scope="col">Critical</th><th scope="col">Data</th><th scope="col" class="num">Burn rate (1 h)</th>
             <th scope="col" class="num">Score</th></tr></thead><tbody>${indicatorRows}</tbody></table>`
          : ''
      }
    </section>

    <section><h2>Impact, ${esc(utc(range.fromMs))} – ${esc(utc(range.toMs))}</h2>${impactHtml}
      ${
        incidentRows
          ? `<table><thead><tr><th scope="col">Incident</th><th scope="col">State</th><th scope="col">Started</th>
             <th scope="col">Duration</th></tr></thead><tbody>${incidentRows}</tbody></table>`
          : notice('No incident touched this service in the range.')
      }
    </section>

    <section><h2>Cost, ${esc(ctx.month)}</h2>${costHtml}</section>
    <section><h2>Components</h2>${componentsHtml}</section>
    <section><h2>Hosts</h2>
      <p class="muted small">Hosts whose cost this month is allocated to the service (from the chargeback).</p>
      ${hostsHtml}</section>
    <section><h2>Measurement maturity</h2>${maturityHtml}</section>`;

  return {
    title: svc.name || svc.id,
    html,
    mount(root) {
      if (slos.length === 0) {
        root.dataset.charts = 'ready';
        return;
      }
      drawCharts(root, id, slos, times, range, ctx.now).catch((e) => {
        if (!root.isConnected) return;
        root.querySelector('#charts-status').textContent = `Cannot draw the charts: ${e.message}`;
        root.dataset.charts = 'failed';
      });
    },
  };
}

// The SLI of each SLO per step (GetSliSeries), with the objectives dashed.
function drawSli(root, id, slos, answers) {
  const steps = [...new Set(answers.flatMap((a) => a.points.map((p) => ms(p.from_ms))))].sort((a, b) => a - b);
  const el = root.querySelector('#chart-sli');
  if (steps.length === 0) {
    el.innerHTML = notice('No SLI data in this range.');
    return;
  }
  const step = answers.length ? ms(answers[0].step_ms) : 0;
  const series = slos.map((s, i) => {
    const at = new Map(answers[i].points.map((p) => [ms(p.from_ms), p.ratio]));
    return { key: s.slo, label: `${s.slo} (${s.sli})`, color: kColors[i % kColors.length], values: steps.map((t) => at.get(t) ?? null) };
  });
  lineChart(el, {
    title: `SLI per ${duration(step)} (dashed: objective)`,
    xs: steps,
    series: [
      ...series,
      ...slos.map((s, i) => ({
        label: `${s.slo} objective`,
        color: kColors[i % kColors.length],
        dash: [6, 4],
        values: steps.map(() => s.target),
      })),
    ],
    yFormat: (v) => pct(v, 2),
  });
  root.querySelector('#table-sli').innerHTML = dataTable({
    caption: `SLI per ${duration(step)}`,
    xs: steps,
    series,
    format: (v) => pct(v),
    key: `svc:${id}:chart:sli`,
  });
}

// Fetches the SLO as of each sample time and draws both charts with their
// data tables; marks the page root data-charts="ready" when done.
async function drawCharts(root, id, slos, times, range, nowMs) {
  const [samples, sli] = await Promise.all([
    pooled(times.map((t) => () => sloAsOf(id, t, nowMs))),
    Promise.all(slos.map((s) => get('sli', { service: id, slo: s.slo, from: range.fromMs, to: range.toMs }))),
  ]);
  if (!root.isConnected) return;  // the user moved on
  drawSli(root, id, slos, sli);
  const series = (field) =>
    slos.map((s, i) => ({
      key: s.slo,
      label: s.slo,
      color: kColors[i % kColors.length],
      values: samples.map((r) => {
        const x = r.slos.find((y) => y.slo === s.slo);
        return x && x.has_data ? x[field] : null;
      }),
    }));
  const attainment = series('attainment');
  const budget = series('budget_remaining_ratio');
  const key = `svc:${id}`;
  lineChart(root.querySelector('#chart-attainment'), {
    title: 'Attainment over the SLO period (dashed: objective)',
    xs: times,
    series: [
      ...attainment,
      ...slos.map((s, i) => ({
        label: `${s.slo} objective`,
        color: kColors[i % kColors.length],
        dash: [6, 4],
        values: times.map(() => s.target),
      })),
    ],
    yFormat: (v) => pct(v, 2),
  });
  lineChart(root.querySelector('#chart-budget'), {
    title: 'Error budget left (burn-down)',
    xs: times,
    series: budget,
    yFormat: (v) => pct(v, 0),
  });
  root.querySelector('#table-attainment').innerHTML = dataTable({
    caption: 'Attainment',
    xs: times,
    series: attainment,
    format: (v) => pct(v),
    key: `${key}:chart:attainment`,
  });
  root.querySelector('#table-budget').innerHTML = dataTable({
    caption: 'Error budget left',
    xs: times,
    series: budget,
    format: (v) => pct(v, 1),
    key: `${key}:chart:budget`,
  });
  root.querySelector('#charts-status').textContent = '';
  root.dataset.charts = 'ready';
}
