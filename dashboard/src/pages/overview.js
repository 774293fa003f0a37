// Overview: every business service, grouped by business unit, with health,
// availability against its objective, error budget, open incidents, cost
// this month and cost per 1,000 transactions.
//
// Built as one HTML string and set once, so a catalog of 1,000 services
// renders in a few tens of milliseconds; the filter hides rows in place.
import { get, tryGet } from '../api.js';
import { esc, minutes, money, num, pct, score, unitCost } from '../format.js';
import { badge, card, cell, kSeverity, notice } from '../ui.js';

// The SLO that binds a service: the one with the least error budget left
// (among those with data), else its first.
export function bindingSlo(slos) {
  if (!slos || slos.length === 0) return null;
  const withData = slos.filter((s) => s.has_data);
  const pool = withData.length ? withData : slos;
  return pool.reduce((a, b) => (b.budget_remaining_ratio < a.budget_remaining_ratio ? b : a));
}

export async function load(ctx) {
  const { range } = ctx;
  const at = range.relative ? undefined : range.toMs;
  const [catalog, health, slo, incidents, cost] = await Promise.all([
    get('services'),
    get('health', { at }),
    get('slo', { at }),
    tryGet('incidents', { from: range.fromMs, to: range.toMs }),
    tryGet('chargeback', { month: ctx.month }),
  ]);

  const healthBy = new Map(health.services.map((h) => [h.service, h]));
  const slosBy = new Map();
  for (const s of slo.slos) {
    if (!slosBy.has(s.service)) slosBy.set(s.service, []);
    slosBy.get(s.service).push(s);
  }
  const openBy = new Map();
  let openTotal = 0;
  const incidentList = incidents.incidents || [];
  for (const inc of incidentList) {
    if (!inc.open) continue;
    openTotal += 1;
    for (const s of inc.affected_services) openBy.set(s, (openBy.get(s) || 0) + 1);
  }
  const costBy = new Map((cost.services || []).map((c) => [c.service, c]));
  const currency = cost.currency || '';

  const statusCount = { healthy: 0, degraded: 0, critical: 0, 'no data': 0 };
  for (const h of health.services) statusCount[h.status] = (statusCount[h.status] || 0) + 1;

  const units = [...catalog.business_units.map((u) => ({ id: u.id, name: u.name || u.id }))];
  const unitIds = new Set(units.map((u) => u.id));
  if (catalog.services.some((s) => !unitIds.has(s.business_unit))) {
    units.push({ id: '', name: 'External suppliers and services without a business unit' });
  }
  const buCost = new Map((cost.business_units || []).map((u) => [u.business_unit, u]));

  const rows = [];
  const order = new Map(catalog.services.map((s, i) => [s.id, i]));
  for (const unit of units) {
    const members = catalog.services
      .filter((s) => (unit.id ? s.business_unit === unit.id : !unitIds.has(s.business_unit)))
      .sort((a, b) => {
        const sa = kSeverity[healthBy.get(a.id)?.status] ?? 4;
        const sb = kSeverity[healthBy.get(b.id)?.status] ?? 4;
        return sa - sb || order.get(a.id) - order.get(b.id);
      });
    if (members.length === 0) continue;
    const uc = buCost.get(unit.id);
    const worst = members.filter((s) => healthBy.get(s.id)?.status === 'critical').length;
    rows.push(
      `<tbody class="bu" data-bu="${esc(unit.id)}"><tr class="bu-head"><th colspan="10" scope="rowgroup">
        <span class="bu-name">${esc(unit.name)}</span>
        <span class="muted">${members.length} service${members.length === 1 ? '' : 's'}${
          worst ? ` · ${worst} critical` : ''
        }${
          uc
            ? ` · <span data-k="bu:${esc(unit.id)}:cost" data-v="${esc(uc.cost)}">${esc(
                money(uc.cost, currency),
              )}</span> this month`
            : ''
        }</span></th></tr>`,
    );
    for (const s of members) {
      const h = healthBy.get(s.id);
      const binding = bindingSlo(slosBy.get(s.id));
      const c = costBy.get(s.id);
      const open = openBy.get(s.id) || 0;
      const k = `svc:${s.id}`;
      const search = `${s.id} ${s.name} ${unit.name}`.toLowerCase();
      rows.push(`<tr data-service="${esc(s.id)}" data-search="${esc(search)}">
        <th scope="row"><a href="${esc(ctx.link('service', s.id))}">${esc(s.name || s.id)}</a>${
          s.name && s.name !== s.id ? ` <span class="muted">${esc(s.id)}</span>` : ''
        }</th>
        <td>${h ? `<span data-k="${k}:status" data-v="${esc(h.status)}">${badge(h.status)}</span>` : '—'}</td>
        ${h && h.has_score ? cell(`${k}:health`, h.score, score(h.score)) : cell(`${k}:health`, '', '—')}
        ${
          binding
            ? cell(`${k}:attainment`, binding.attainment, pct(binding.attainment)) +
              cell(`${k}:target`, binding.target, pct(binding.target), 'num muted') +
              `<td class="num">${binding.breached ? badge('critical', 'missed') : binding.has_data ? badge('healthy', 'met') : badge('no data', 'no data')}
                <span class="muted small">${esc(binding.slo)}</span></td>` +
              `<td class="num"><span data-k="${k}:budget" data-v="${binding.budget_remaining_ratio}">${esc(
                pct(binding.budget_remaining_ratio, 1),
              )}</span> <span class="muted small">${esc(minutes(binding.budget_minutes_remaining))}</span></td>`
            : `<td class="num muted" colspan="4">no SLO defined</td>`
        }
        ${cell(`${k}:open`, open, open ? `${num(open)} open` : 'none', open ? 'num alert' : 'num muted')}
        ${
          c
            ? cell(`${k}:cost`, c.cost, money(c.cost, currency)) +
              (c.has_cost_per_1000
                ? cell(`${k}:cpk`, c.cost_per_1000_transactions, unitCost(c.cost_per_1000_transactions, currency))
                : cell(`${k}:cpk`, '', 'no transactions', 'num muted'))
            : `<td class="num muted">—</td><td class="num muted">—</td>`
        }
      </tr>`);
    }
    rows.push('</tbody>');
  }

  const costNote = cost.error
    ? notice(`Cost: ${cost.error.message}`)
    : `<span class="muted">idle ${esc(money(cost.idle, currency))} · unallocated ${esc(
        money(cost.unallocated, currency),
      )}</span>`;
  // Simulated fleets (plumbline-fleet-sim) mark their units and services.
  const demoUnits = catalog.business_units.filter((u) => u.metadata && u.metadata.demo);
  const demoNote = demoUnits.length
    ? `<p class="notice demo" role="note"><strong>Demo data:</strong> ${esc(
        demoUnits.map((u) => u.name || u.id).join(', '),
      )} — ${esc(demoUnits[0].metadata.demo)}.</p>`
    : '';
  const html = `
    ${demoNote}
    <h1>Business services</h1>
    <p class="lede">Health now, availability against each service's objective over its SLO period,
      error budget left, incidents open, and IT cost for ${esc(ctx.month)}.
      ${range.relative ? '' : `As of ${esc(new Date(range.toMs).toISOString())}.`}</p>
    <div class="cards">
      ${card('Healthy', 'fleet:healthy', statusCount.healthy, num(statusCount.healthy), badge('healthy'))}
      ${card('Degraded', 'fleet:degraded', statusCount.degraded, num(statusCount.degraded), badge('degraded'))}
      ${card('Critical', 'fleet:critical', statusCount.critical, num(statusCount.critical), badge('critical'))}
      ${card('No data', 'fleet:nodata', statusCount['no data'], num(statusCount['no data']), badge('no data'))}
      ${card('Open incidents', 'fleet:open', openTotal, num(openTotal), `<a href="${esc(ctx.link('incidents'))}">incidents</a>`)}
      ${card(
        `IT cost ${ctx.month}`,
        'fleet:cost',
        cost.total ?? '',
        cost.error ? '—' : money(cost.total, currency),
        costNote,
      )}
    </div>
    ${incidents.error ? notice(`Incidents: ${incidents.error.message}`) : ''}
    <div class="toolbar no-print">
      <label>Filter <input type="search" id="filter" data-keep="filter" placeholder="service or business unit"
        autocomplete="off"></label>
      <span class="muted" id="filter-count">${catalog.services.length} services</span>
    </div>
    <table class="services" id="services">
      <thead><tr>
        <th scope="col">Service</th><th scope="col">Status</th><th scope="col" class="num">Health</th>
        <th scope="col" class="num">Availability</th><th scope="col" class="num">Objective</th>
        <th scope="col" class="num">Met?</th><th scope="col" class="num">Error budget left</th>
        <th scope="col" class="num">Incidents</th><th scope="col" class="num">Cost this month</th>
        <th scope="col" class="num">Cost / 1,000 transactions</th>
      </tr></thead>
      ${rows.join('')}
    </table>`;

  return {
    title: 'Overview',
    html,
    mount(root) {
      const input = root.querySelector('#filter');
      const counter = root.querySelector('#filter-count');
      const all = [...root.querySelectorAll('tr[data-service]')];
      const apply = () => {
        const q = input.value.trim().toLowerCase();
        let shown = 0;
        for (const tr of all) {
          const hit = !q || tr.dataset.search.includes(q);
          tr.hidden = !hit;
          if (hit) shown += 1;
        }
        for (const tb of root.querySelectorAll('tbody.bu')) {
          tb.hidden = !tb.querySelector('tr[data-service]:not([hidden])');
        }
        counter.textContent = q ? `${shown} of ${all.length} services` : `${all.length} services`;
      };
      input.addEventListener('input', apply);
      if (input.value) apply();
    },
  };
}
