// The executive summary of a month, made to be printed (browser print to
// PDF): availability achieved, incidents and their business impact, cost
// and unit cost per business unit with their trend over six months.
import { get, pooled, tryGet } from '../api.js';
import { dataTable, lineChart } from '../charts.js';
import { duration, esc, minutes, money, ms, num, pct, unitCost, utc } from '../format.js';
import { monthBefore, monthBounds } from '../state.js';
import { badge, card, cell, centsToMoney, minorDigits, notice } from '../ui.js';
import { monthPicker, mountMonthPicker } from './chargeback.js';

export const kTrendMonths = 6;
const kMaxIncidents = 40;
const kColors = ['#1f5fa8', '#b3471d', '#2e7d32', '#6a1b9a', '#00838f', '#8d6e00', '#c2185b'];

export async function load(ctx) {
  const { month, now } = ctx;
  const bounds = monthBounds(month);
  const end = Math.min(bounds.toMs, now);
  const started = bounds.fromMs < now;
  const months = Array.from({ length: kTrendMonths }, (_, i) => monthBefore(month, kTrendMonths - 1 - i));

  const [catalog, slo, incidents, impact, costs] = await Promise.all([
    get('services'),
    // The SLOs as of the month's end (each over its own period).
    started ? get('slo', { at: end - 1 }) : Promise.resolve({ slos: [] }),
    started ? tryGet('incidents', { from: bounds.fromMs, to: end }) : Promise.resolve({ incidents: [] }),
    started ? tryGet('impact', { from: bounds.fromMs, to: end }) : Promise.resolve({ services: [], business_units: [] }),
    pooled(months.map((m) => () => tryGet('chargeback', { month: m }))),
  ]);
  const incidentList = (incidents.incidents || []).slice(0, kMaxIncidents);
  const impacts = await pooled(incidentList.map((i) => () => tryGet('impact', { incident: i.id })));
  const names = new Map(catalog.services.map((s) => [s.id, s.name || s.id]));
  const unitNames = new Map(catalog.business_units.map((u) => [u.id, u.name || u.id]));
  const current = costs[kTrendMonths - 1];
  const previous = costs[kTrendMonths - 2];
  const currency = costs.find((c) => !c.error)?.currency || '';
  const revenueCurrency = catalog.currency || '';
  const digits = minorDigits(costs.find((c) => !c.error)?.total);

  // Availability achieved.
  const met = slo.slos.filter((s) => s.has_data && !s.breached).length;
  const measured = slo.slos.filter((s) => s.has_data).length;
  const availabilityRows = slo.slos
    .map((s) => {
      const k = `sum:slo:${s.service}:${s.slo}`;
      return `<tr><th scope="row">${esc(names.get(s.service) || s.service)}</th><td>${esc(s.slo)}</td>
        ${cell(`${k}:target`, s.target, pct(s.target))}
        ${s.has_data ? cell(`${k}:attainment`, s.attainment, pct(s.attainment)) : '<td class="num muted">no data</td>'}
        <td>${s.breached ? badge('critical', 'missed') : s.has_data ? badge('healthy', 'met') : badge('no data', 'no data')}</td>
        ${cell(`${k}:budget`, s.budget_remaining_ratio, pct(s.budget_remaining_ratio, 1))}
        <td class="small">${esc(utc(s.from_ms))} – ${esc(utc(s.to_ms))}</td></tr>`;
    })
    .join('');

  // Incidents and what they cost the business.
  const incidentRows = incidentList
    .map((inc, i) => {
      const x = impacts[i];
      const k = `sum:inc:${inc.id}`;
      return `<tr><th scope="row">${esc(inc.title || inc.id)}<div class="muted small">${esc(inc.id)}</div></th>
        <td>${esc(utc(inc.from_ms))}</td>${cell(`${k}:duration`, ms(inc.to_ms) - ms(inc.from_ms), duration(ms(inc.to_ms) - ms(inc.from_ms)))}
        <td>${esc(inc.affected_services.join(', '))}</td>
        ${
          x.error
            ? `<td colspan="3" class="muted">${esc(x.error.message)}</td>`
            : cell(`${k}:failed`, x.failed_requests, num(x.failed_requests)) +
              cell(`${k}:users`, x.users_affected, num(x.users_affected)) +
              cell(`${k}:revenue`, x.revenue_at_risk, money(x.revenue_at_risk, revenueCurrency))
        }</tr>`;
    })
    .join('');
  const unitImpactRows = (impact.business_units || [])
    .map((u) => {
      const k = `sum:impact:${u.business_unit || 'external'}`;
      return `<tr><th scope="row">${esc(unitNames.get(u.business_unit) || u.business_unit || '(external)')}</th>
        ${cell(`${k}:degraded`, u.degraded_minutes, minutes(u.degraded_minutes))}
        ${cell(`${k}:failed`, u.failed_requests, num(u.failed_requests))}
        ${cell(`${k}:users`, u.users_affected, num(u.users_affected))}
        ${cell(`${k}:revenue`, u.revenue_at_risk, money(u.revenue_at_risk, revenueCurrency))}</tr>`;
    })
    .join('');

  // Cost per business unit: this month, last month, the trend.
  const unitIds = [];
  for (const c of costs) {
    for (const u of c.business_units || []) {
      if (!unitIds.includes(u.business_unit)) unitIds.push(u.business_unit);
    }
  }
  const costOf = (c, unit) => {
    if (!c || c.error) return null;
    const u = (c.business_units || []).find((x) => x.business_unit === unit);
    return u ? Number(u.cost) : 0;
  };
  const unitCostOf = (c, unit) => {
    if (!c || c.error) return null;
    const u = (c.business_units || []).find((x) => x.business_unit === unit);
    return u && u.has_cost_per_1000 ? Number(u.cost_per_1000_transactions) : null;
  };
  const costRows = unitIds
    .map((unit) => {
      const k = `sum:cost:${unit}`;
      const u = (current.business_units || []).find((x) => x.business_unit === unit);
      const before = previous.error
        ? null
        : (previous.business_units || []).find((x) => x.business_unit === unit)?.cost ??
          centsToMoney(0, digits);
      const change = u && before !== null && Number(before) !== 0 ? (Number(u.cost) / Number(before) - 1) * 100 : null;
      const unitNow = unitCostOf(current, unit);
      const unitBefore = unitCostOf(previous, unit);
      const services = (current.services || []).filter((s) => s.business_unit === unit);
      const unitCosts = services
        .map((s) => {
          const p = (previous.services || []).find((x) => x.service === s.service);
          const was = p && p.has_cost_per_1000 ? ` (was ${unitCost(p.cost_per_1000_transactions, currency)})` : '';
          return s.has_cost_per_1000
            ? `${esc(s.service)}: <span data-k="sum:cpk:${esc(s.service)}" data-v="${s.cost_per_1000_transactions}">${esc(
                unitCost(s.cost_per_1000_transactions, currency),
              )}</span>${esc(was)}`
            : '';
        })
        .filter(Boolean)
        .join('<br>');
      return `<tr><th scope="row">${esc(unitNames.get(unit) || unit || '(external)')}</th>
        ${u ? cell(`${k}:cost`, u.cost, money(u.cost, currency)) : '<td class="num">—</td>'}
        <td class="num">${before === null ? '—' : esc(money(before, currency))}</td>
        ${change === null ? '<td class="num">—</td>' : cell(`${k}:change`, change, `${change > 0 ? '+' : ''}${num(change, 1)}%`)}
        <td class="num">${u && u.has_budget ? esc(money(u.budget, currency)) : '—'}</td>
        ${unitNow === null ? '<td class="num muted">—</td>' : cell(`${k}:cpk`, unitNow, unitCost(unitNow, currency))}
        <td class="num">${unitBefore === null ? '—' : esc(unitCost(unitBefore, currency))}</td>
        <td class="small">${unitCosts || '<span class="muted">no transactions measured</span>'}</td></tr>`;
    })
    .join('');
  const trendSeries = unitIds.map((unit, i) => ({
    key: unit,
    label: unitNames.get(unit) || unit || '(external)',
    color: kColors[i % kColors.length],
    values: costs.map((c) => costOf(c, unit)),
  }));
  // Unit cost trend: only the units with transactions in some month.
  const unitCostSeries = unitIds
    .map((unit, i) => ({
      key: unit,
      label: unitNames.get(unit) || unit || '(external)',
      color: kColors[i % kColors.length],
      values: costs.map((c) => unitCostOf(c, unit)),
    }))
    .filter((x) => x.values.some((v) => v !== null));
  const trendTimes = months.map((m) => monthBounds(m).fromMs);
  const totalCost = current.error ? null : current.total;

  const html = `
    <div class="toolbar no-print">${monthPicker(ctx)}
      <button type="button" id="print">Print or save as PDF</button></div>
    <header class="summary-head">
      <h1>IT value summary · ${esc(month)}</h1>
      <p class="lede">Availability of the business services, incidents and what they cost the business, and IT cost per
        business unit. Figures as of ${esc(utc(end))}; times in UTC.</p>
    </header>
    <div class="cards">
      ${card('Objectives met', 'sum:met', met, `${num(met)} of ${num(measured)}`, 'SLOs with data, at the month’s end')}
      ${card('Incidents', 'sum:incidents', (incidents.incidents || []).length, num((incidents.incidents || []).length))}
      ${card('Revenue at risk', 'sum:revenue', impact.revenue_at_risk ?? '', impact.error ? '—' : money(impact.revenue_at_risk ?? 0, revenueCurrency))}
      ${card('Users affected', 'sum:users', impact.users_affected ?? '', impact.error ? '—' : num(impact.users_affected ?? 0))}
      ${card('IT cost', 'sum:cost', totalCost ?? '', totalCost === null ? '—' : money(totalCost, currency))}
    </div>
    <section><h2>Availability achieved</h2>
      <p class="muted small">Each objective's attainment at the end of the month, over its own SLO period.</p>
      ${
        availabilityRows
          ? `<table id="sum-availability"><thead><tr><th scope="col">Service</th><th scope="col">Objective</th>
             <th scope="col" class="num">Target</th><th scope="col" class="num">Achieved</th><th scope="col">Met?</th>
             <th scope="col" class="num">Budget left</th><th scope="col">Over</th></tr></thead><tbody>${availabilityRows}</tbody></table>`
          : notice('No objective had data this month.')
      }</section>
    <section><h2>Incidents and their business impact</h2>
      ${incidents.error ? notice(incidents.error.message) : ''}
      ${
        incidentRows
          ? `<table id="sum-incidents"><thead><tr><th scope="col">Incident</th><th scope="col">Started</th>
             <th scope="col" class="num">Duration</th><th scope="col">Services affected</th><th scope="col" class="num">Failed requests</th>
             <th scope="col" class="num">Users affected</th><th scope="col" class="num">Revenue at risk</th></tr></thead>
             <tbody>${incidentRows}</tbody></table>${
               (incidents.incidents || []).length > kMaxIncidents
                 ? notice(`The ${kMaxIncidents} newest of ${(incidents.incidents || []).length} incidents.`)
                 : ''
             }`
          : notice('No incident this month.')
      }
      ${
        unitImpactRows
          ? `<h3>All failures of the month, by business unit</h3><table class="narrow" id="sum-impact-units"><thead><tr>
             <th scope="col">Business unit</th><th scope="col" class="num">Degraded</th><th scope="col" class="num">Failed requests</th>
             <th scope="col" class="num">Users affected</th><th scope="col" class="num">Revenue at risk</th></tr></thead>
             <tbody>${unitImpactRows}</tbody></table>`
          : ''
      }</section>
    <section class="cost"><h2>IT cost and unit cost by business unit</h2>
      ${current.error ? notice(`Cost: ${current.error.message}`) : ''}
      ${
        costRows
          ? `<table id="sum-cost"><thead><tr><th scope="col">Business unit</th><th scope="col" class="num">${esc(month)}</th>
             <th scope="col" class="num">${esc(monthBefore(month))}</th><th scope="col" class="num">Change</th>
             <th scope="col" class="num">Budget</th>
             <th scope="col" class="num">Per 1,000 transactions</th><th scope="col" class="num">${esc(monthBefore(month))}</th>
             <th scope="col">Per 1,000 transactions, by service</th></tr></thead><tbody>${costRows}</tbody></table>
             <p class="muted small">A business unit's cost per 1,000 transactions is its cost over the transactions of
               all its services.</p>
             <div class="chart print-chart" id="chart-trend"></div>
             ${dataTable({ caption: 'Cost per business unit by month', xs: trendTimes, series: trendSeries, format: (v) => money(v.toFixed(digits), currency), key: 'sum:trend' })}
             ${
               unitCostSeries.length
                 ? `<div class="chart print-chart" id="chart-unit-trend"></div>
                    ${dataTable({ caption: 'Cost per 1,000 transactions per business unit by month', xs: trendTimes, series: unitCostSeries, format: (v) => unitCost(v, currency), key: 'sum:unit-trend' })}`
                 : ''
             }`
          : ''
      }</section>`;

  return {
    title: `Summary ${month}`,
    html,
    mount(root) {
      mountMonthPicker(root, ctx);
      root.querySelector('#print').addEventListener('click', () => window.print());
      const el = root.querySelector('#chart-trend');
      if (el) {
        lineChart(el, {
          title: `Cost per business unit, ${months[0]} – ${month} (${currency})`,
          xs: trendTimes,
          series: trendSeries,
          yFormat: (v) => num(v, 0),
          height: 200,
        });
      }
      const unitEl = root.querySelector('#chart-unit-trend');
      if (unitEl) {
        lineChart(unitEl, {
          title: `Cost per 1,000 transactions per business unit (${currency})`,
          xs: trendTimes,
          series: unitCostSeries,
          yFormat: (v) => num(v, 2),
          height: 200,
        });
      }
    },
  };
}
