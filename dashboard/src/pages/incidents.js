// Incidents in the time range, and one incident with its business impact
// (duration, failed requests, users, revenue at risk, budget burned,
// propagated services) and its timeline (breaches, notes).
import { ApiError, get, tryGet } from '../api.js';
import { duration, esc, minutes, money, ms, num, pct, utc, utcSeconds } from '../format.js';
import { badge, card, cell, notice } from '../ui.js';

const kDay = 86400e3;

function stateBadge(inc) {
  return inc.open ? badge('critical', 'open') : badge('healthy', 'closed');
}

async function list(ctx) {
  const { range } = ctx;
  const data = await get('incidents', { from: range.fromMs, to: range.toMs });
  const rows = data.incidents
    .map((i) => {
      const k = `inc:${i.id}`;
      return `<tr data-incident="${esc(i.id)}"><th scope="row"><a href="${esc(ctx.link('incident', i.id))}">${esc(
        i.title || i.id,
      )}</a><div class="muted small">${esc(i.id)}</div></th>
        <td>${stateBadge(i)}</td><td>${i.declared ? `declared by ${esc(i.declared_by)}` : 'detected'}</td>
        <td>${esc(utc(i.from_ms))}</td>${cell(`${k}:duration`, ms(i.to_ms) - ms(i.from_ms), duration(ms(i.to_ms) - ms(i.from_ms)))}
        <td>${i.affected_services.map((s) => `<a href="${esc(ctx.link('service', s))}">${esc(s)}</a>`).join(', ')}</td>
        ${cell(`${k}:breaches`, i.breaches.length, num(i.breaches.length))}${cell(`${k}:notes`, i.notes.length, num(i.notes.length))}</tr>`;
    })
    .join('');
  const open = data.incidents.filter((i) => i.open).length;
  return {
    title: 'Incidents',
    html: `<h1>Incidents</h1>
      <p class="lede">Detected from SLO breaches and declared by SREs, ${esc(utc(range.fromMs))} – ${esc(
        utc(range.toMs),
      )}, newest first.</p>
      <div class="cards">${card('Incidents', 'incidents:count', data.incidents.length, num(data.incidents.length))}
        ${card('Open', 'incidents:open', open, num(open), open ? badge('critical', 'needs attention') : badge('healthy', 'none open'))}</div>
      ${
        rows
          ? `<table id="incident-list"><thead><tr><th scope="col">Incident</th><th scope="col">State</th><th scope="col">Kind</th>
             <th scope="col">Started</th><th scope="col" class="num">Duration</th><th scope="col">Services affected</th>
             <th scope="col" class="num">Breaches</th><th scope="col" class="num">Notes</th></tr></thead><tbody>${rows}</tbody></table>`
          : notice('No incident in this range. Pick a longer range above.')
      }`,
  };
}

// The incident's events in time order.
function timeline(inc) {
  const events = [];
  events.push({
    at: ms(inc.from_ms),
    what: inc.declared ? 'Declared window starts' : 'First breaching minute: incident opens',
    cls: 'start',
  });
  if (inc.declared && ms(inc.declared_ms)) {
    events.push({ at: ms(inc.declared_ms), what: `Declared by ${inc.declared_by}`, cls: 'note' });
  }
  for (const b of inc.breaches) {
    events.push({
      at: ms(b.from_ms),
      what: `${b.service} · ${b.slo} breaches its objective: ${b.breaching_minutes} breaching minute${
        b.breaching_minutes === 1 ? '' : 's'
      } until ${utc(b.to_ms)}, worst minute ${pct(b.worst_ratio, 2)} good`,
      cls: 'breach',
    });
  }
  for (const n of inc.notes) {
    events.push({ at: ms(n.at_ms), what: `Note by ${n.author}: ${n.text}`, cls: 'note' });
  }
  events.push(
    inc.open
      ? { at: ms(inc.to_ms), what: 'Still open', cls: 'open' }
      : { at: ms(inc.to_ms), what: 'Incident ends', cls: 'end' },
  );
  events.sort((a, b) => a.at - b.at);
  return `<ol class="timeline">${events
    .map((e) => `<li class="${e.cls}"><time datetime="${new Date(e.at).toISOString()}">${esc(utcSeconds(e.at))}</time>
      <span>${esc(e.what)}</span></li>`)
    .join('')}</ol>`;
}

async function detail(ctx) {
  const { range, state } = ctx;
  const id = state.id;
  // The incident is in the range's list, or else in the last 39 days (the
  // API's longest window is 40).
  let listed = await get('incidents', { from: range.fromMs, to: range.toMs });
  let inc = listed.incidents.find((i) => i.id === id);
  if (!inc) {
    listed = await get('incidents', { from: ctx.now - 39 * kDay, to: ctx.now });
    inc = listed.incidents.find((i) => i.id === id);
  }
  const impact = await tryGet('impact', { incident: id });
  if (!inc && impact.error) throw impact.error;
  if (!inc) throw new ApiError(404, 'not_found', `no incident "${id}" in the last 39 days`, '');
  const k = `inc:${id}`;
  const span = ms(inc.to_ms) - ms(inc.from_ms);

  let impactHtml;
  if (impact.error) {
    impactHtml = notice(`Impact: ${impact.error.message}`);
  } else {
    const svcRows = impact.services
      .map((x) => {
        const sk = `${k}:svc:${x.service}`;
        const slos = x.slos
          .map((s) => `${esc(s.slo)}: <span data-k="${esc(sk)}:burned:${esc(s.slo)}" data-v="${s.budget_burned}">${esc(
            pct(s.budget_burned, 2),
          )}</span> of the budget (${esc(minutes(s.budget_burned_minutes))})${
            s.sla_breached ? ` ${badge('critical', 'objective missed')}` : ''
          }`)
          .join('<br>');
        return `<tr><th scope="row"><a href="${esc(ctx.link('service', x.service))}">${esc(x.name || x.service)}</a></th>
          <td>${esc(x.business_unit || '(external)')}</td>
          <td>${x.propagated_only ? `propagated via <a href="${esc(ctx.link('service', x.via))}">${esc(x.via)}</a>` : 'measured'}</td>
          ${cell(`${sk}:degraded`, x.degraded_minutes, minutes(x.degraded_minutes))}
          ${cell(`${sk}:failed`, x.failed_requests, num(x.failed_requests))}
          ${cell(`${sk}:users`, x.users_affected, num(x.users_affected))}
          ${cell(`${sk}:revenue`, x.revenue_at_risk, money(x.revenue_at_risk, impact.currency))}
          <td class="small">${slos || '—'}</td></tr>`;
      })
      .join('');
    const unitRows = impact.business_units
      .map((u) => {
        const uk = `${k}:bu:${u.business_unit || 'external'}`;
        return `<tr><th scope="row">${esc(u.business_unit || '(external)')}</th>${cell(`${uk}:services`, u.services, num(u.services))}
          ${cell(`${uk}:degraded`, u.degraded_minutes, minutes(u.degraded_minutes))}
          ${cell(`${uk}:failed`, u.failed_requests, num(u.failed_requests))}
          ${cell(`${uk}:users`, u.users_affected, num(u.users_affected))}
          ${cell(`${uk}:revenue`, u.revenue_at_risk, money(u.revenue_at_risk, impact.currency))}</tr>`;
      })
      .join('');
    const propagated = impact.services.filter((x) => x.propagated_only);
    // The SLO that lost the largest share of its error budget.
    let worst = null;
    for (const x of impact.services) {
      for (const s of x.slos) {
        if (!worst || s.budget_burned > worst.budget_burned) worst = { ...s, service: x.service };
      }
    }
    impactHtml = `<div class="cards">
        ${card('Duration', `${k}:duration`, span, duration(span), inc.open ? 'so far (still open)' : '')}
        ${card('Failed requests', `${k}:failed`, impact.failed_requests, num(impact.failed_requests))}
        ${card('Users affected', `${k}:users`, impact.users_affected, num(impact.users_affected))}
        ${card('Revenue at risk', `${k}:revenue`, impact.revenue_at_risk, money(impact.revenue_at_risk, impact.currency))}
        ${
          worst
            ? card('Most error budget burned', `${k}:burned`, worst.budget_burned, pct(worst.budget_burned, 2),
                `${esc(worst.service)} · ${esc(worst.slo)}: ${esc(minutes(worst.budget_burned_minutes))}`)
            : card('Error budget burned', `${k}:burned`, '', '—', 'no SLO among the services hit')
        }
        ${card('Propagated to', `${k}:propagated`, propagated.length, `${num(propagated.length)} service${propagated.length === 1 ? '' : 's'}`,
          propagated.map((x) => esc(x.service)).join(', '))}
      </div>
      <h2>Per service</h2>
      <table id="impact-services"><thead><tr><th scope="col">Service</th><th scope="col">Business unit</th><th scope="col">How</th>
        <th scope="col" class="num">Degraded</th><th scope="col" class="num">Failed requests</th>
        <th scope="col" class="num">Users affected</th><th scope="col" class="num">Revenue at risk</th>
        <th scope="col">Error budget burned</th></tr></thead><tbody>${svcRows}</tbody></table>
      <h2>Per business unit</h2>
      <table class="narrow"><thead><tr><th scope="col">Business unit</th><th scope="col" class="num">Services</th>
        <th scope="col" class="num">Degraded</th><th scope="col" class="num">Failed requests</th>
        <th scope="col" class="num">Users affected</th><th scope="col" class="num">Revenue at risk</th></tr></thead>
        <tbody>${unitRows}</tbody></table>`;
  }

  return {
    title: inc.title || inc.id,
    html: `<nav class="crumbs no-print"><a href="${esc(ctx.link('incidents'))}">Incidents</a> › ${esc(inc.id)}</nav>
      <h1>${esc(inc.title || inc.id)} ${stateBadge(inc)}</h1>
      <p class="lede">${inc.declared ? `Declared by ${esc(inc.declared_by)}` : 'Detected from SLO breaches'} ·
        ${esc(utc(inc.from_ms))} – ${inc.open ? 'now' : esc(utc(inc.to_ms))} ·
        detected on ${esc(inc.detected_services.join(', ') || '—')} · affects
        ${inc.affected_services.map((s) => `<a href="${esc(ctx.link('service', s))}">${esc(s)}</a>`).join(', ')}</p>
      <section><h2>Business impact</h2>${impactHtml}</section>
      <section><h2>Timeline</h2>${timeline(inc)}</section>`,
  };
}

export function load(ctx) {
  return ctx.state.page === 'incident' ? detail(ctx) : list(ctx);
}
