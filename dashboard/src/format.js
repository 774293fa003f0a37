// How figures are written on the page. Pure functions with no browser or
// library dependency: the browser tests import this module to check that the
// text shown equals the API's value written the same way.

const kMinute = 60000;

// Escapes text for use inside HTML (element content and quoted attributes).
export function esc(value) {
  return String(value ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

// Groups the integer digits of a plain decimal string: "12345.60" -> "12,345.60".
function groupDigits(text) {
  const negative = text.startsWith('-');
  const body = negative ? text.slice(1) : text;
  const [whole, fraction] = body.split('.');
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return (negative ? '-' : '') + grouped + (fraction !== undefined ? '.' + fraction : '');
}

// A number with a fixed count of decimals and grouped thousands.
export function num(value, decimals = 0) {
  if (value === null || value === undefined || Number.isNaN(Number(value))) return '—';
  const v = Number(value);
  if (!Number.isFinite(v)) return v > 0 ? '∞' : '-∞';
  // Avoid "-0".
  const fixed = (Math.abs(v) < 0.5 * 10 ** -decimals ? 0 : v).toFixed(decimals);
  return groupDigits(fixed);
}

// Money as the API gives it: a rounded decimal string ("1234.50") is shown
// as is (grouped), never re-rounded through floating point; a number is
// shown with two decimals.
export function money(value, currency = '') {
  if (value === null || value === undefined || value === '') return '—';
  const text = typeof value === 'string' ? groupDigits(value) : num(value, 2);
  return currency ? `${currency} ${text}` : text;
}

// A ratio (0.9995) as a percentage with `decimals` decimals ("99.950%").
export function pct(ratio, decimals = 3) {
  if (ratio === null || ratio === undefined || Number.isNaN(Number(ratio))) return '—';
  return `${num(Number(ratio) * 100, decimals)}%`;
}

// Health score 0-100 with one decimal.
export function score(value) {
  return num(value, 1);
}

// The status words of the API, as shown (always with text, never colour alone).
export function statusLabel(status) {
  switch (status) {
    case 'healthy':
      return 'Healthy';
    case 'degraded':
      return 'Degraded';
    case 'critical':
      return 'Critical';
    case 'no data':
      return 'No data';
    default:
      return status ? String(status) : 'Unknown';
  }
}

// A CSS class for a status (colour; the text says the same).
export function statusClass(status) {
  switch (status) {
    case 'healthy':
      return 'ok';
    case 'degraded':
      return 'warn';
    case 'critical':
      return 'bad';
    default:
      return 'none';
  }
}

// The API's 64-bit times are JSON strings; both forms are accepted.
export function ms(value) {
  return Number(value ?? 0);
}

// UTC time, minute resolution: "2026-11-27 08:05 UTC".
export function utc(millis) {
  const t = ms(millis);
  if (!t) return '—';
  const iso = new Date(t).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

// UTC time with seconds (timelines).
export function utcSeconds(millis) {
  const t = ms(millis);
  if (!t) return '—';
  const iso = new Date(t).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
}

// A duration in milliseconds, for people: "45 min", "3 h 20 min", "2 d 4 h".
export function duration(millis) {
  const t = Math.max(0, Math.round(ms(millis) / kMinute));
  if (t < 60) return `${t} min`;
  const hours = Math.floor(t / 60);
  const minutes = t % 60;
  if (hours < 48) return minutes ? `${hours} h ${minutes} min` : `${hours} h`;
  const days = Math.floor(hours / 24);
  const restHours = hours % 24;
  return restHours ? `${days} d ${restHours} h` : `${days} d`;
}

// Minutes (a double) as shown: "12.5 min".
export function minutes(value) {
  return `${num(value, 1)} min`;
}

// Hours to exhaustion: negative means the budget is not being spent.
export function hoursToExhaustion(hours) {
  const h = Number(hours);
  if (!Number.isFinite(h)) return '—';
  if (h < 0) return 'not being spent';
  if (h === 0) return 'spent';
  if (h < 48) return `${num(h, 1)} h`;
  return `${num(h / 24, 1)} d`;
}

// Burn rate: "0.20×", infinite for a 100% target with failures.
export function burn(value) {
  const v = Number(value);
  if (!Number.isFinite(v)) return '∞×';
  return `${num(v, 2)}×`;
}

// "2026-11" of a time (UTC).
export function monthOf(millis) {
  return new Date(ms(millis)).toISOString().slice(0, 7);
}

// Cost per 1,000 transactions: two decimals, four below 1 (small unit costs
// would otherwise all read 0.00).
export function unitCost(value, currency = '') {
  if (value === null || value === undefined) return '—';
  const v = Number(value);
  const text = num(v, Math.abs(v) < 1 ? 4 : 2);
  return currency ? `${currency} ${text}` : text;
}
