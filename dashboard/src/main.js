// The dashboard's shell: navigation, the time range picker, the token
// prompt, and auto-refresh (re-fetching the data every 30 s, never
// reloading the page). Each page is a module with
//   async load(ctx) -> { title, html, mount?(root) }
// that fetches what it shows from the JSON API and returns its markup.
import './style.css';

import { ApiError, setToken, token } from './api.js';
import { collectCharts } from './charts.js';
import { esc, utcSeconds } from './format.js';
import * as chargeback from './pages/chargeback.js';
import * as incidents from './pages/incidents.js';
import * as overview from './pages/overview.js';
import * as service from './pages/service.js';
import * as summary from './pages/summary.js';
import {
  formatHash,
  kRanges,
  link,
  monthBounds,
  parseHash,
  resolveMonth,
  resolveRange,
} from './state.js';

// Auto-refresh period; `?refresh_s=N` in the page's URL (not the hash)
// changes it, e.g. for tests or a wall display.
const kRefreshMs =
  Math.max(1, Number(new URLSearchParams(location.search).get('refresh_s')) || 30) * 1000;

const pages = {
  overview,
  service,
  incidents,
  incident: incidents,
  chargeback,
  summary,
};

const view = document.getElementById('view');
const updated = document.getElementById('updated');
const dialog = document.getElementById('token-dialog');
const forget = document.getElementById('forget-token');
let generation = 0;
let rendering = false;

function currentState() {
  return parseHash(location.hash);
}

function navigate(state) {
  const hash = formatHash(state);
  if (hash !== location.hash) {
    location.hash = hash;  // hashchange renders
  } else {
    render(false);
  }
}

// Keeps what the user opened or typed across a refresh of the same view.
function keepUserState(oldRoot, newRoot) {
  for (const d of oldRoot.querySelectorAll('details[data-keep]')) {
    const twin = newRoot.querySelector(`details[data-keep="${CSS.escape(d.dataset.keep)}"]`);
    if (twin) twin.open = d.open;
  }
  for (const input of oldRoot.querySelectorAll('input[data-keep]')) {
    const twin = newRoot.querySelector(`input[data-keep="${CSS.escape(input.dataset.keep)}"]`);
    if (twin && twin.type !== 'month') twin.value = input.value;
  }
}

function showError(e) {
  view.innerHTML = `<section class="error" role="alert"><h1>Cannot show this page</h1>
    <p>${esc(e.message)}</p>${e.path ? `<p class="muted">while reading <code>${esc(e.path)}</code></p>` : ''}
    <p><a href="#/overview">Back to the overview</a></p></section>`;
}

function askForToken(e) {
  const why = document.getElementById('token-why');
  why.textContent =
    e.status === 403
      ? `Your token may not read this: ${e.message}`
      : token()
        ? `The collector did not accept the token: ${e.message}`
        : `This collector needs a token to read its data (${e.message}).`;
  if (!dialog.open) dialog.showModal();
  document.getElementById('token-input').focus();
}

// Renders the view the URL names. `refresh`: the same view again with new
// data (the old content stays until the new one is ready).
async function render(refresh) {
  const state = currentState();
  const page = pages[state.page];
  const now = Date.now();
  const ctx = {
    state,
    now,
    range: resolveRange(state, now),
    month: resolveMonth(state, now),
    link: (p, id = '', extra = {}) => link(state, p, id, extra),
    navigate: (changes) => navigate({ ...state, ...changes }),
  };
  ctx.monthBounds = monthBounds(ctx.month);
  const mine = ++generation;
  syncPicker(state, ctx.range);
  syncNav(state);
  if (!refresh) {
    view.setAttribute('aria-busy', 'true');
    document.body.dataset.ready = '';
  }
  rendering = true;
  const started = performance.now();
  try {
    const out = await page.load(ctx);
    if (mine !== generation) return;  // the user moved on
    const fetched = performance.now();
    const root = document.createElement('div');
    root.className = `page page-${state.page}`;
    root.innerHTML = out.html;
    if (refresh && view.firstElementChild) keepUserState(view.firstElementChild, root);
    view.replaceChildren(root);
    if (out.mount) out.mount(root, ctx);
    collectCharts();
    document.title = `${out.title} · Plumbline`;
    const done = performance.now();
    document.body.dataset.page = state.page;
    document.body.dataset.fetchMs = (fetched - started).toFixed(1);
    document.body.dataset.renderMs = (done - fetched).toFixed(1);
    document.body.dataset.ready = String(mine);
    updated.textContent = `Updated ${utcSeconds(Date.now())}`;
    forget.hidden = !token();
  } catch (e) {
    if (mine !== generation) return;
    if (e instanceof ApiError && e.needsToken) {
      askForToken(e);
    } else {
      console.warn('dashboard: cannot render', e);
      showError(e);
      document.body.dataset.ready = String(mine);
    }
  } finally {
    if (mine === generation) {
      rendering = false;
      view.removeAttribute('aria-busy');
    }
  }
}

// ---- the time range picker -------------------------------------------------

function toInputValue(ms) {
  return new Date(ms).toISOString().slice(0, 16);
}

function syncPicker(state, range) {
  for (const b of document.querySelectorAll('#range button[data-range]')) {
    b.setAttribute('aria-pressed', String(!state.from && b.dataset.range === state.range));
  }
  const custom = document.getElementById('range-custom');
  custom.setAttribute('aria-pressed', String(Boolean(state.from)));
  const from = document.getElementById('range-from');
  const to = document.getElementById('range-to');
  if (document.activeElement !== from) from.value = toInputValue(range.fromMs);
  if (document.activeElement !== to) to.value = toInputValue(range.toMs);
}

function syncNav(state) {
  const section = state.page === 'incident' ? 'incidents' : state.page;
  for (const a of document.querySelectorAll('nav a[data-page]')) {
    if (a.dataset.page === section) {
      a.setAttribute('aria-current', 'page');
    } else {
      a.removeAttribute('aria-current');
    }
    a.href = link(state, a.dataset.page);
  }
}

function setupPicker() {
  const box = document.getElementById('range');
  for (const key of Object.keys(kRanges)) {
    const b = document.createElement('button');
    b.type = 'button';
    b.dataset.range = key;
    b.textContent = key;
    b.title = `the last ${key}`;
    b.addEventListener('click', () => navigate({ ...currentState(), range: key, from: '', to: '' }));
    box.insertBefore(b, document.getElementById('range-custom'));
  }
  const fields = document.getElementById('range-custom-fields');
  document.getElementById('range-custom').addEventListener('click', () => {
    fields.hidden = !fields.hidden;
  });
  document.getElementById('range-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const from = document.getElementById('range-from').value;
    const to = document.getElementById('range-to').value;
    if (!from || !to) return;
    // The inputs are in UTC (labelled so): "2026-11-27T08:00" -> RFC 3339.
    navigate({ ...currentState(), range: '', from: `${from}:00Z`, to: `${to}:00Z` });
  });
}

// ---- token prompt ----------------------------------------------------------

function setupToken() {
  document.getElementById('token-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const input = document.getElementById('token-input');
    setToken(input.value.trim());
    input.value = '';
    dialog.close();
    render(false);
  });
  forget.addEventListener('click', () => {
    setToken('');
    render(false);
  });
}

setupPicker();
setupToken();
document.getElementById('refresh-now').addEventListener('click', () => render(true));
window.addEventListener('hashchange', () => render(false));
setInterval(() => {
  if (document.hidden || dialog.open || rendering) return;
  render(true);
}, kRefreshMs);
render(false);
