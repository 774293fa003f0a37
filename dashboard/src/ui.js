// Small HTML builders shared by the pages. Figures carry data-k (what it
// is) and data-v (the API's raw value) so tests and scripts can read them.
import { esc, statusClass, statusLabel } from './format.js';

// A status as colour plus text (plus a symbol, for printouts in black and white).
export function badge(status, text = statusLabel(status)) {
  const cls = statusClass(status);
  const symbol = { ok: '●', warn: '▲', bad: '✖', none: '○' }[cls];
  return `<span class="badge ${cls}"><span aria-hidden="true">${symbol}</span> ${esc(text)}</span>`;
}

// A generic badge for a good / warning / bad condition with its words.
export function flag(kind, text) {
  const status = { ok: 'healthy', warn: 'degraded', bad: 'critical', none: 'no data' }[kind];
  return badge(status, text);
}

// A figure: <tag data-k data-v>text</tag>.
export function fig(key, raw, text, tag = 'span', cls = '') {
  const v = raw === undefined || raw === null ? '' : raw;
  return `<${tag}${cls ? ` class="${cls}"` : ''} data-k="${esc(key)}" data-v="${esc(v)}">${esc(
    text,
  )}</${tag}>`;
}

// A table cell holding a figure (right-aligned numbers by default).
export function cell(key, raw, text, cls = 'num') {
  return fig(key, raw, text, 'td', cls);
}

// A labelled figure for the cards at the top of a page.
export function card(label, key, raw, text, note = '') {
  return `<div class="card"><div class="card-label">${esc(label)}</div>
    <div class="card-value">${fig(key, raw, text)}</div>${
      note ? `<div class="card-note">${note}</div>` : ''
    }</div>`;
}

// Minor-unit digits of a currency, read from a money string the API gave
// ("12.34" -> 2, "1234" -> 0).
export function minorDigits(sample) {
  const dot = String(sample ?? '').indexOf('.');
  return dot < 0 ? 0 : String(sample).length - dot - 1;
}

// Integer minor units (cents) as a money string with `digits` decimals,
// exactly (no floating point).
export function centsToMoney(cents, digits) {
  const n = BigInt(Math.round(Number(cents)));
  const negative = n < 0n;
  const abs = negative ? -n : n;
  if (digits === 0) return `${negative ? '-' : ''}${abs}`;
  const scale = 10n ** BigInt(digits);
  const whole = abs / scale;
  const frac = (abs % scale).toString().padStart(digits, '0');
  return `${negative ? '-' : ''}${whole}.${frac}`;
}

// A message block for something the API could not answer.
export function notice(text, kind = 'info') {
  return `<p class="notice ${kind}">${esc(text)}</p>`;
}

// Sorts by status severity (critical first), keeping the given order otherwise.
export const kSeverity = { critical: 0, degraded: 1, healthy: 2, 'no data': 3 };
