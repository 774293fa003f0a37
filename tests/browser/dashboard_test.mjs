// End-to-end test of the collector's dashboard in Debian's headless Chromium,
// driven by playwright-core (the system browser; nothing downloads one).
//
//   node tests/browser/dashboard_test.mjs BASE_URL            # every page against the API
//   node tests/browser/dashboard_test.mjs BASE_URL --scale N  # overview of a large catalog
//
// Environment:
//   PLUMBLINE_BROWSER_NODE_MODULES  node_modules holding playwright-core (npm ci of tests/browser)
//   PLUMBLINE_TOKEN                 a viewer token, when the collector has tokens
//   PLUMBLINE_SCREENSHOTS           where screenshots (and the summary's PDF) go
//   PLUMBLINE_CHROMIUM              the browser (default /usr/bin/chromium)
//
// Each page is compared with the JSON API for the same window: the page marks
// every figure with data-k (what) and data-v (the API's raw value), and its
// text must be that value written by the dashboard's own format.js. Exits 0
// when every check passes; prints one line per failure and a summary line.
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import * as fmt from '../../dashboard/src/format.js';
import { bindingSlo } from '../../dashboard/src/pages/overview.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const base = (process.argv[2] || '').replace(/\/$/, '');
const scaleArg = process.argv.indexOf('--scale');
const scale = scaleArg > 0 ? Number(process.argv[scaleArg + 1]) : 0;
const token = process.env.PLUMBLINE_TOKEN || '';
const shots = path.resolve(process.env.PLUMBLINE_SCREENSHOTS || 'screenshots');
const nodeModules = path.resolve(
  process.env.PLUMBLINE_BROWSER_NODE_MODULES || path.join(here, 'node_modules'),
);
const chromiumPath = process.env.PLUMBLINE_CHROMIUM || '/usr/bin/chromium';
if (!base) {
  console.error('usage: dashboard_test.mjs BASE_URL [--scale N]');
  process.exit(2);
}
process.env.PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD = '1';
const require = createRequire(path.join(nodeModules, 'resolve-from-here.js'));
const { chromium } = require('playwright-core');
mkdirSync(shots, { recursive: true });
rmSync(path.join(shots, 'failure.png'), { force: true });

let passed = 0;
let failed = 0;
function check(ok, what, detail = '') {
  if (ok) {
    passed += 1;
  } else {
    failed += 1;
    console.error(`FAIL ${what}${detail ? `: ${detail}` : ''}`);
  }
}
const t0 = Date.now();
function log(text) {
  console.log(`[${((Date.now() - t0) / 1000).toFixed(1)} s] ${text}`);
}

// The JSON API, with the same token the user types into the page.
async function api(pathAndQuery) {
  const res = await fetch(base + pathAndQuery, {
    headers: token ? { Authorization: `Bearer ${token}` } : {},
  });
  if (!res.ok) throw new Error(`${pathAndQuery}: HTTP ${res.status} ${await res.text()}`);
  return (res.headers.get('content-type') || '').startsWith('application/json') ? res.json() : res.text();
}

// Every figure on the page: data-k -> { v, t }.
async function figures(page) {
  return page.$$eval('[data-k]', (els) => {
    const out = {};
    for (const e of els) out[e.dataset.k] = { v: e.dataset.v, t: e.textContent.trim() };
    return out;
  });
}

// A figure equals the API's value (numbers exactly, strings as given) and
// reads as that value formatted.
function same(figs, key, expected, text) {
  const f = figs[key];
  if (!f) {
    check(false, `figure ${key} is on the page`);
    return;
  }
  const ok =
    typeof expected === 'number' ? Number(f.v) === expected && f.v !== '' : f.v === String(expected);
  check(ok, `figure ${key} equals the API`, `page ${f.v}, API ${expected}`);
  if (text !== undefined) check(f.t === text, `figure ${key} reads "${text}"`, `page shows "${f.t}"`);
}

// Waits until the page has rendered a view after `before` (data-ready changes).
async function rendered(page, before, pageName) {
  await page.waitForFunction(
    ([b, p]) => document.body.dataset.ready && document.body.dataset.ready !== b && document.body.dataset.page === p,
    [before, pageName],
    { timeout: 60000 },
  );
}

async function readyMark(page) {
  return page.evaluate(() => document.body.dataset.ready || '');
}

async function go(page, hash, pageName) {
  const before = await readyMark(page);
  await page.evaluate((h) => {
    location.hash = h;
  }, hash);
  await rendered(page, before, pageName);
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
}

const browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: true,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--no-first-run',
  ],
});
const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1400, height: 900 } });
const page = await context.newPage();
const consoleErrors = [];
let expectDenied = Boolean(token);
page.on('console', (m) => {
  if (m.type() !== 'error' && m.type() !== 'warning') return;
  // Before the token is given, the API's 401 is expected (and shown as a prompt).
  if (expectDenied && /401/.test(m.text())) return;
  consoleErrors.push(`${m.type()}: ${m.text()}`);
});
page.on('pageerror', (e) => consoleErrors.push(`uncaught: ${e.message}`));
page.on('response', (r) => {
  if (r.status() >= 400 && !(expectDenied && r.status() === 401)) {
    consoleErrors.push(`HTTP ${r.status()} ${r.url()}`);
  }
});

try {
  if (scale) {
    await scaleTest();
  } else {
    await everyPage();
  }
} catch (e) {
  failed += 1;
  console.error(`FAIL ${e.stack || e}`);
  await shot(page, 'failure').catch(() => {});
} finally {
  check(consoleErrors.length === 0, 'no console errors', consoleErrors.join('\n  '));
  await browser.close();
}
log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);

// ---------------------------------------------------------------------------

async function login(hash) {
  const started = Date.now();
  await page.goto(`${base}/${hash}`);
  if (token) {
    await page.waitForSelector('#token-dialog[open]', { timeout: 30000 });
    const why = await page.textContent('#token-why');
    check(/needs a token/.test(why), 'a 401 asks for a token', why);
    await page.fill('#token-input', token);
    const before = await readyMark(page);
    await page.click('#token-form button[type=submit]');
    await rendered(page, before, 'overview');
    expectDenied = false;
    const stored = await page.evaluate(() => sessionStorage.getItem('plumbline.token'));
    check(stored === token, 'the token is kept in sessionStorage');
  } else {
    await rendered(page, '', 'overview');
  }
  return Date.now() - started;
}

// First load with the token already given: navigation start to the
// overview's figures on screen, as the browser measures it.
async function firstLoad() {
  await page.reload();
  await page.waitForFunction(() => document.body.dataset.ready && document.body.dataset.page === 'overview');
  return page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    return {
      dom_content_loaded_ms: Math.round(nav.domContentLoadedEventEnd),
      figures_shown_ms: Math.round(performance.now()),
      fetch_ms: Number(document.body.dataset.fetchMs),
      render_ms: Number(document.body.dataset.renderMs),
    };
  });
}

async function everyPage() {
  // ---- Overview, after the token prompt.
  await login('#/overview?range=1h');
  const load = await firstLoad();
  log(`first load: ${JSON.stringify(load)}`);
  // Well under a second on an idle machine (docs/dashboard.md); the bound
  // here leaves room for a CI machine busy with other tests.
  check(load.dom_content_loaded_ms < 2000, 'the page and its bundles load quickly', `${load.dom_content_loaded_ms} ms`);
  check(load.figures_shown_ms < 5000, 'the first page shows its figures quickly', `${load.figures_shown_ms} ms`);

  const [catalog, health, slo, incidents, cb] = await Promise.all([
    api('/api/v1/services'),
    api('/api/v1/health'),
    api('/api/v1/slo'),
    api(`/api/v1/incidents?from=-1h`),
    api(`/api/v1/chargeback?month=${fmt.monthOf(Date.now())}`),
  ]);
  let figs = await figures(page);
  for (const s of catalog.services) {
    const h = health.services.find((x) => x.service === s.id);
    if (h.has_score) same(figs, `svc:${s.id}:health`, h.score, fmt.score(h.score));
    same(figs, `svc:${s.id}:status`, h.status);
    const shown = figs[`svc:${s.id}:status`]?.t || '';
    check(shown.endsWith(` ${fmt.statusLabel(h.status)}`), `the status of ${s.id} reads ${fmt.statusLabel(h.status)}`, shown);
    const b = bindingSlo(slo.slos.filter((x) => x.service === s.id));
    if (b) {
      same(figs, `svc:${s.id}:attainment`, b.attainment, fmt.pct(b.attainment));
      same(figs, `svc:${s.id}:target`, b.target, fmt.pct(b.target));
      same(figs, `svc:${s.id}:budget`, b.budget_remaining_ratio, fmt.pct(b.budget_remaining_ratio, 1));
    }
    const open = incidents.incidents.filter((i) => i.open && i.affected_services.includes(s.id)).length;
    same(figs, `svc:${s.id}:open`, open);
    const c = cb.services.find((x) => x.service === s.id);
    if (c) {
      same(figs, `svc:${s.id}:cost`, c.cost, fmt.money(c.cost, cb.currency));
      if (c.has_cost_per_1000) same(figs, `svc:${s.id}:cpk`, c.cost_per_1000_transactions);
    }
  }
  same(figs, 'fleet:cost', cb.total, fmt.money(cb.total, cb.currency));
  const rows = await page.$$eval('tr[data-service]', (trs) => trs.length);
  check(rows === catalog.services.length, 'the overview lists every service', `${rows}`);
  const statusTexts = await page.$$eval('tr[data-service] .badge', (b) => b.map((x) => x.textContent.trim()));
  check(
    statusTexts.every((t) => /[A-Za-z]/.test(t)),
    'every status badge has text, not colour alone',
  );
  await shot(page, 'overview');

  // ---- The time range picker drives the URL and the queries.
  const before7d = await readyMark(page);
  await page.click('#range button[data-range="7d"]');
  await rendered(page, before7d, 'overview');
  check((await page.evaluate(() => location.hash)).includes('range=7d'), 'picking 7d puts it in the URL');
  check(
    (await page.getAttribute('#range button[data-range="7d"]', 'aria-pressed')) === 'true',
    'the 7d button shows as pressed',
  );
  const to = new Date(Math.floor(Date.now() / 60000) * 60000 + 60000);
  const from = new Date(to.getTime() - 2 * 3600e3);
  await page.click('#range-custom');
  await page.fill('#range-from', from.toISOString().slice(0, 16));
  await page.fill('#range-to', to.toISOString().slice(0, 16));
  const beforeCustom = await readyMark(page);
  await page.click('#range-apply');
  await rendered(page, beforeCustom, 'overview');
  const customHash = await page.evaluate(() => location.hash);
  check(
    customHash.includes(`from=${encodeURIComponent(`${from.toISOString().slice(0, 16)}:00Z`)}`),
    'a custom range puts from and to in the URL',
    customHash,
  );
  // As of the custom range's end: the same figures as the API "at" that time.
  const sloAt = await api(`/api/v1/slo?at=${to.getTime()}`);
  figs = await figures(page);
  for (const s of catalog.services) {
    const b = bindingSlo(sloAt.slos.filter((x) => x.service === s.id));
    if (b) same(figs, `svc:${s.id}:attainment`, b.attainment);
  }

  // ---- Auto-refresh re-fetches without reloading the page.
  await page.goto(`${base}/?refresh_s=2#/overview?range=1h`);
  await page.waitForFunction(() => document.body.dataset.ready && document.body.dataset.page === 'overview');
  await page.evaluate(() => {
    window.plumblineMarker = 'kept';
  });
  const beforeRefresh = await readyMark(page);
  await rendered(page, beforeRefresh, 'overview');
  check(
    (await page.evaluate(() => window.plumblineMarker)) === 'kept',
    'auto-refresh re-renders without a page reload',
  );
  await page.goto(`${base}/#/overview?range=1h`);
  await page.waitForFunction(() => document.body.dataset.ready && document.body.dataset.page === 'overview');

  // ---- Navigation: from the overview to a service by its link.
  const svcId = 'payments';
  const beforeSvc = await readyMark(page);
  await page.click(`tr[data-service="${svcId}"] th a`);
  await rendered(page, beforeSvc, 'service');
  check((await page.evaluate(() => location.hash)).startsWith(`#/service/${svcId}`), 'a service link opens its page');
  await servicePage(svcId);
  await shot(page, 'service');

  // ---- Deep link: a full page load straight onto another service and range
  // (the token stays in this tab's sessionStorage).
  await page.goto(`${base}/#/service/checkout?range=7d`);
  await page.waitForFunction(() => document.body.dataset.ready && document.body.dataset.page === 'service', null, {
    timeout: 60000,
  });
  check((await page.textContent('h1')).includes('Checkout'), 'a deep link opens the service it names');
  const main = await page.textContent('main');
  check(
    main.includes('Components') && main.includes('hosts *'),
    "the service page lists the catalog's components",
    main.slice(0, 200),
  );
  check(
    (await page.getAttribute('#range button[data-range="7d"]', 'aria-pressed')) === 'true',
    'a deep link restores the time range',
  );

  // ---- Incidents: list and detail.
  await go(page, '#/incidents?range=1h', 'incidents');
  const listed = await api('/api/v1/incidents?from=-1h');
  figs = await figures(page);
  same(figs, 'incidents:count', listed.incidents.length);
  check(listed.incidents.length >= 1, 'there is an incident to show');
  await shot(page, 'incidents');
  const declared = listed.incidents.find((i) => i.declared) || listed.incidents[0];
  const beforeInc = await readyMark(page);
  await page.click(`tr[data-incident="${declared.id}"] th a`);
  await rendered(page, beforeInc, 'incident');
  const impact = await api(`/api/v1/impact?incident=${encodeURIComponent(declared.id)}`);
  figs = await figures(page);
  const k = `inc:${declared.id}`;
  same(figs, `${k}:failed`, impact.failed_requests, fmt.num(impact.failed_requests));
  same(figs, `${k}:users`, impact.users_affected, fmt.num(impact.users_affected));
  same(figs, `${k}:revenue`, impact.revenue_at_risk, fmt.money(impact.revenue_at_risk, impact.currency));
  check(impact.currency === 'EUR', 'revenue is in the catalog currency', impact.currency);
  same(figs, `${k}:duration`, Number(declared.to_ms) - Number(declared.from_ms));
  for (const x of impact.services) {
    same(figs, `${k}:svc:${x.service}:failed`, x.failed_requests);
    same(figs, `${k}:svc:${x.service}:revenue`, x.revenue_at_risk);
    for (const s of x.slos) same(figs, `${k}:svc:${x.service}:burned:${s.slo}`, s.budget_burned);
  }
  check(impact.revenue_at_risk > 0, 'the outage put revenue at risk', `${impact.revenue_at_risk}`);
  const timeline = await page.textContent('.timeline');
  for (const n of declared.notes) check(timeline.includes(n.text), `the timeline shows the note "${n.text}"`);
  check(/Declared by|breaches its objective/.test(timeline), 'the timeline shows what opened the incident');
  await shot(page, 'incident');

  // ---- Chargeback for this month, with the CSV download.
  const month = fmt.monthOf(Date.now());
  await go(page, `#/chargeback?month=${month}`, 'chargeback');
  figs = await figures(page);
  for (const key of ['total', 'allocated', 'idle', 'unallocated']) {
    same(figs, `cb:${key}`, cb[key], fmt.money(cb[key], cb.currency));
  }
  for (const u of cb.business_units) same(figs, `cb:bu:${u.business_unit}:cost`, u.cost);
  for (const s of cb.services) same(figs, `cb:svc:${s.service}:cost`, s.cost);
  for (const h of cb.hosts) same(figs, `cb:host:${h.host}:cost`, h.cost);
  check(Number(cb.total_cents) > 0, 'the month has a cost', cb.total);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#csv')]);
  const csvPath = path.join(shots, download.suggestedFilename());
  await download.saveAs(csvPath);
  const csv = readFileSync(csvPath, 'utf8');
  check(csv.startsWith('BillingPeriodStart,BillingPeriodEnd,'), 'the CSV download has the FOCUS header', csv.slice(0, 80));
  const apiCsv = await api(`/api/v1/chargeback?month=${month}&format=focus`);
  check(csv === apiCsv, 'the CSV download equals the API export');
  await shot(page, 'chargeback');

  // ---- Executive summary, on screen and printed to PDF.
  await go(page, `#/summary?month=${month}`, 'summary');
  figs = await figures(page);
  same(figs, 'sum:cost', cb.total);
  for (const u of cb.business_units) {
    same(figs, `sum:cost:${u.business_unit}:cost`, u.cost);
    if (u.has_cost_per_1000) {
      same(figs, `sum:cost:${u.business_unit}:cpk`, u.cost_per_1000_transactions, fmt.unitCost(u.cost_per_1000_transactions, cb.currency));
    }
  }
  const monthIncidents = await api(`/api/v1/incidents?from=${month}-01T00:00:00Z`);
  same(figs, 'sum:incidents', monthIncidents.incidents.length);
  for (const inc of monthIncidents.incidents) {
    const x = await api(`/api/v1/impact?incident=${encodeURIComponent(inc.id)}`);
    same(figs, `sum:inc:${inc.id}:revenue`, x.revenue_at_risk);
  }
  const sloNow = await api('/api/v1/slo');
  for (const s of sloNow.slos.filter((x) => x.has_data)) {
    same(figs, `sum:slo:${s.service}:${s.slo}:attainment`, s.attainment);
  }
  check((await page.$$('#chart-trend canvas')).length === 1, 'the summary draws the cost trend');
  await shot(page, 'summary');
  await page.emulateMedia({ media: 'print' });
  const navHidden = await page.$eval('header.top', (h) => getComputedStyle(h).display === 'none');
  check(navHidden, 'printing hides the navigation');
  await shot(page, 'summary-print');
  await page.emulateMedia({ media: 'screen' });
  await page.pdf({ path: path.join(shots, 'summary.pdf'), format: 'A4', printBackground: true });

  // ---- Unknown assets are 404; the page itself needs no token.
  const missing = await fetch(`${base}/assets/nope-123.js`);
  check(missing.status === 404, 'an unknown asset is 404');
  const index = await fetch(`${base}/`);
  check(index.status === 200, 'the page loads without a token');
}

async function servicePage(id) {
  const [slo, health, maturity, services] = await Promise.all([
    api(`/api/v1/slo?service=${id}`),
    api(`/api/v1/health?service=${id}`),
    api('/api/v1/maturity'),
    api('/api/v1/services'),
  ]);
  await page.waitForSelector('.page-service[data-charts="ready"]', { timeout: 60000 });
  const figs = await figures(page);
  const k = `svc:${id}`;
  const h = health.services[0];
  if (h.has_score) same(figs, `${k}:health`, h.score, fmt.score(h.score));
  for (const s of slo.slos) {
    const sk = `${k}:slo:${s.slo}`;
    same(figs, `${sk}:attainment`, s.attainment, fmt.pct(s.attainment));
    same(figs, `${sk}:budget`, s.budget_remaining_ratio, fmt.pct(s.budget_remaining_ratio, 1));
    same(figs, `${sk}:burn`, s.burn_rate, fmt.burn(s.burn_rate));
    same(figs, `${sk}:valid`, s.valid);
  }
  for (const i of h.indicators.filter((x) => x.has_data)) same(figs, `${k}:indicator:${i.slo}`, i.score);
  check((await page.textContent('.explanation')) === h.explanation, 'the health explanation is the API\'s');
  const m = maturity.services.find((x) => x.service === id);
  same(figs, `${k}:maturity`, m.level);
  // The charts: points are the SLO as of each time; check the last, the
  // middle and the first against the API at the same time.
  const chartKeys = Object.keys(figs).filter((x) => x.startsWith(`${k}:chart:attainment:`));
  check(chartKeys.length >= 10, 'the attainment chart has its points', `${chartKeys.length}`);
  for (const key of [chartKeys[0], chartKeys[Math.floor(chartKeys.length / 2)], chartKeys.at(-1)]) {
    const parts = key.split(':');
    const at = parts.at(-1);
    const sloName = parts.at(-2);
    const asOf = await api(`/api/v1/slo?service=${id}&at=${at}`);
    const x = asOf.slos.find((y) => y.slo === sloName);
    if (x.has_data) {
      same(figs, key, x.attainment);
      same(figs, `${k}:chart:budget:${sloName}:${at}`, x.budget_remaining_ratio);
    }
  }
  check((await page.$$('#chart-attainment canvas')).length === 1, 'the attainment chart is drawn');
  // The SLI chart: each step's ratio is GetSliSeries' for that step (steps
  // that ended more than two minutes ago no longer change).
  const sliKeys = Object.keys(figs).filter((x) => x.startsWith(`${k}:chart:sli:`) && figs[x].v !== '');
  check(sliKeys.length >= 1, 'the SLI chart has its points', `${sliKeys.length}`);
  const sliTimes = [...new Set(sliKeys.map((x) => Number(x.split(':').at(-1))))].sort((a, b) => a - b);
  const sliStep = sliTimes.length > 1 ? Math.min(...sliTimes.slice(1).map((t, i) => t - sliTimes[i])) : 60000;
  for (const s of slo.slos) {
    const series = await api(`/api/v1/sli?service=${id}&slo=${s.slo}&from=${sliTimes[0]}&step=${sliStep / 1000}s`);
    for (const p of series.points) {
      if (Number(p.from_ms) + Number(series.step_ms) > Date.now() - 120000) continue;
      same(figs, `${k}:chart:sli:${s.slo}:${Number(p.from_ms)}`, p.ratio);
    }
  }
  check((await page.$$('#chart-sli canvas')).length === 1, 'the SLI chart is drawn');
  check((await page.$$('#chart-budget canvas')).length === 1, 'the burn-down chart is drawn');
  // Dependencies both ways.
  const text = await page.textContent('main');
  const downstream = services.services.filter((s) => s.depends_on.includes(id));
  for (const d of downstream) check(text.includes(d.name || d.id), `downstream ${d.id} is listed`);
  const alerts = slo.slos.flatMap((s) => s.alerts);
  const alertRows = await page.$$eval('section table tr.firing', (r) => r.length);
  check(alertRows === alerts.filter((a) => a.firing).length, 'every firing alert is shown as firing');
}

// The overview of a large catalog: how long until it is on screen, and how
// fast the filter answers.
async function scaleTest() {
  await login('#/overview?range=1h');
  const load = await firstLoad();
  const rows = await page.$$eval('tr[data-service]', (trs) => trs.length);
  check(rows === scale, `the overview lists all ${scale} services`, `${rows}`);
  const filterMs = await page.evaluate(() => {
    const input = document.getElementById('filter');
    const t = performance.now();
    input.value = 'svc-0001';
    input.dispatchEvent(new Event('input'));
    return performance.now() - t;
  });
  const shown = await page.$$eval('tr[data-service]:not([hidden])', (trs) => trs.length);
  check(shown >= 1 && shown < scale, 'the filter narrows the list', `${shown}`);
  await page.evaluate(() => {
    const input = document.getElementById('filter');
    input.value = '';
    input.dispatchEvent(new Event('input'));
  });
  // A refresh (what auto-refresh does) of the whole table.
  const before = await readyMark(page);
  const refreshStart = Date.now();
  await page.click('#refresh-now');
  await rendered(page, before, 'overview');
  const refreshMs = Date.now() - refreshStart;
  const renderMs = Number(await page.evaluate(() => document.body.dataset.renderMs));
  const figuresOut = { services: scale, ...load, filter_ms: Math.round(filterMs * 10) / 10, refresh_ms: refreshMs, refresh_render_ms: renderMs };
  console.log(`SCALE ${JSON.stringify(figuresOut)}`);
  check(load.render_ms < 500, 'the table of every service renders in under 0.5 s', `${load.render_ms} ms`);
  check(filterMs < 200, 'the filter answers in under 0.2 s', `${filterMs} ms`);
  await page.screenshot({ path: path.join(shots, `overview-${scale}.png`) });
}
