// Chargeback for a month: cost by business unit and service, idle and
// unallocated as their own lines, hosts, supplier credits, and the FOCUS
// CSV for finance (downloaded with the token: fetch + Blob).
import { download, get } from '../api.js';
import { esc, money, num, pct, unitCost } from '../format.js';
import { badge, card, cell, notice } from '../ui.js';

export function monthPicker(ctx, id = 'month') {
  return `<label class="no-print">Month <input type="month" id="${id}" data-keep="${id}" value="${esc(
    ctx.month,
  )}" max="${new Date(ctx.now).toISOString().slice(0, 7)}"></label>`;
}

export function mountMonthPicker(root, ctx, id = 'month') {
  const input = root.querySelector(`#${id}`);
  if (!input) return;
  input.addEventListener('change', () => {
    if (/^\d{4}-\d{2}$/.test(input.value)) ctx.navigate({ month: input.value });
  });
}

export async function load(ctx) {
  const { month } = ctx;
  const cb = await get('chargeback', { month });
  const cur = cb.currency;
  const catalog = await get('services');
  const units = new Map(catalog.business_units.map((u) => [u.id, u.name || u.id]));
  // A service's business unit as the catalog has it (a line without cost
  // may carry none).
  const unitOf = new Map(catalog.services.map((s) => [s.id, s.business_unit]));

  const unitRows = cb.business_units
    .map((u) => {
      const k = `cb:bu:${u.business_unit}`;
      const budget = u.has_budget
        ? `${cell(`${k}:budget`, u.budget, money(u.budget, cur))}${cell(`${k}:projected`, u.projected, money(u.projected, cur))}
           <td>${u.budget_alert ? badge('critical', 'over budget') : badge('healthy', 'within budget')}
             ${u.budget_message ? `<div class="small">${esc(u.budget_message)}</div>` : ''}</td>`
        : '<td class="num muted">no budget</td><td class="num muted">—</td><td></td>';
      const share = Number(cb.total_cents) ? Number(u.cents) / Number(cb.total_cents) : 0;
      return `<tr><th scope="row">${esc(units.get(u.business_unit) || u.business_unit)}</th>
        ${cell(`${k}:cost`, u.cost, money(u.cost, cur))}<td class="num">${esc(pct(share, 1))}</td>${budget}</tr>`;
    })
    .join('');

  const services = [...cb.services].sort(
    (a, b) => a.business_unit.localeCompare(b.business_unit) || Number(b.cents) - Number(a.cents),
  );
  const serviceRows = services
    .map((s) => {
      const k = `cb:svc:${s.service}`;
      return `<tr><th scope="row"><a href="${esc(ctx.link('service', s.service))}">${esc(s.service)}</a></th>
        <td>${esc(units.get(s.business_unit || unitOf.get(s.service)) || s.business_unit || '(external)')}</td>
        ${cell(`${k}:cost`, s.cost, money(s.cost, cur))}
        ${cell(`${k}:transactions`, s.transactions, num(s.transactions))}
        ${
          s.has_cost_per_1000
            ? cell(`${k}:cpk`, s.cost_per_1000_transactions, unitCost(s.cost_per_1000_transactions, cur))
            : '<td class="num muted">—</td>'
        }
        ${cell(`${k}:revenue`, s.revenue, money(s.revenue, cur))}
        ${s.has_value_per_cost ? cell(`${k}:vpc`, s.value_per_cost, `${num(s.value_per_cost, 1)}×`) : '<td class="num muted">—</td>'}
        ${s.has_change ? cell(`${k}:change`, s.change_percent, `${num(s.change_percent, 1)}%`) : '<td class="num muted">—</td>'}</tr>`;
    })
    .join('');

  const hostRows = cb.hosts
    .map((h) => {
      const k = `cb:host:${h.host}`;
      return `<tr><th scope="row">${esc(h.host)}</th><td>${esc(h.host_class || '—')}</td>
        ${cell(`${k}:hours`, h.hours, num(h.hours, 2))}${cell(`${k}:cores`, h.cpu_cores, num(h.cpu_cores))}
        ${cell(`${k}:used`, h.core_hours_used, num(h.core_hours_used, 3))}${cell(`${k}:idle`, h.idle_core_hours, num(h.idle_core_hours, 3))}
        ${cell(`${k}:cost`, h.cost, money(h.cost, cur))}
        <td>${h.unallocated ? badge('degraded', 'unallocated: no service claims it') : 'allocated'}</td></tr>`;
    })
    .join('');

  const supplierRows = cb.suppliers
    .map((s) => `<tr><th scope="row">${esc(s.service)}</th>${cell(`cb:supplier:${s.service}:attainment`, s.attainment, pct(s.attainment))}
      <td class="num">${esc(num(s.sla_percent, 3))}%</td><td>${s.breached ? badge('critical', 'SLA breached') : badge('healthy', 'SLA met')}</td>
      ${cell(`cb:supplier:${s.service}:credit`, s.credit, money(s.credit, cur))}</tr>`)
    .join('');

  return {
    title: `Chargeback ${month}`,
    html: `<h1>Chargeback · ${esc(month)}</h1>
      <div class="toolbar">${monthPicker(ctx)}
        <button type="button" id="csv" class="no-print">Download FOCUS CSV</button>
        <span id="csv-status" class="muted small" role="status"></span></div>
      <p class="lede">Measured usage priced by the rate card (${esc(cur)}), allocated to services and their business units.
        Every cent of the fleet is shown: total = allocated + idle + unallocated.</p>
      <div class="cards">
        ${card('Total', 'cb:total', cb.total, money(cb.total, cur))}
        ${card('Allocated to services', 'cb:allocated', cb.allocated, money(cb.allocated, cur))}
        ${card('Idle capacity', 'cb:idle', cb.idle, money(cb.idle, cur), 'CPU bought and not used')}
        ${card('Unallocated', 'cb:unallocated', cb.unallocated, money(cb.unallocated, cur), 'hosts no service claims')}
      </div>
      <section><h2>By business unit</h2>
        ${
          unitRows
            ? `<table id="cb-units"><thead><tr><th scope="col">Business unit</th><th scope="col" class="num">Cost</th>
               <th scope="col" class="num">Share</th><th scope="col" class="num">Budget</th><th scope="col" class="num">Projected</th>
               <th scope="col">Budget state</th></tr></thead><tbody>${unitRows}</tbody></table>`
            : notice('No cost allocated to a business unit.')
        }</section>
      <section><h2>By service</h2>
        ${
          serviceRows
            ? `<table id="cb-services"><thead><tr><th scope="col">Service</th><th scope="col">Business unit</th>
               <th scope="col" class="num">Cost</th><th scope="col" class="num">Transactions</th>
               <th scope="col" class="num">Cost / 1,000 transactions</th><th scope="col" class="num">Revenue served</th>
               <th scope="col" class="num">Value per cost</th><th scope="col" class="num">Change on last month</th></tr></thead>
               <tbody>${serviceRows}</tbody></table>`
            : notice('No cost allocated to a service.')
        }</section>
      <section><h2>Hosts</h2>
        ${
          hostRows
            ? `<table id="cb-hosts"><thead><tr><th scope="col">Host</th><th scope="col">Class</th><th scope="col" class="num">Hours observed</th>
               <th scope="col" class="num">Cores</th><th scope="col" class="num">Core-hours used</th><th scope="col" class="num">Idle core-hours</th>
               <th scope="col" class="num">Cost</th><th scope="col">Allocation</th></tr></thead><tbody>${hostRows}</tbody></table>`
            : notice('No host reported usage this month.')
        }</section>
      ${
        supplierRows
          ? `<section><h2>Supplier credits</h2><table><thead><tr><th scope="col">Supplier</th><th scope="col" class="num">Attainment</th>
             <th scope="col" class="num">Contracted SLA</th><th scope="col">State</th><th scope="col" class="num">Credit owed</th></tr></thead>
             <tbody>${supplierRows}</tbody></table></section>`
          : ''
      }`,
    mount(root) {
      mountMonthPicker(root, ctx);
      const status = root.querySelector('#csv-status');
      root.querySelector('#csv').addEventListener('click', async () => {
        status.textContent = 'Preparing…';
        try {
          await download('chargeback', { month, format: 'focus' }, `plumbline-chargeback-${month}.csv`);
          status.textContent = 'Downloaded.';
        } catch (e) {
          status.textContent = `Cannot download: ${e.message}`;
        }
      });
    },
  };
}
