// The whole view state lives in the URL's hash, so every view is a deep
// link: #/<page>[/<id>]?range=24h | from=<RFC 3339>&to=<RFC 3339>[&month=YYYY-MM]
//
//   #/overview                 every business service, grouped by business unit
//   #/service/<id>             one service
//   #/incidents                incidents in the time range
//   #/incident/<id>            one incident with its business impact
//   #/chargeback?month=...     cost by business unit and service for a month
//   #/summary?month=...        the printable executive summary of a month

export const kPages = ['overview', 'service', 'incidents', 'incident', 'chargeback', 'summary'];

// Relative ranges the picker offers, in milliseconds.
export const kRanges = {
  '1h': 3600e3,
  '24h': 24 * 3600e3,
  '7d': 7 * 24 * 3600e3,
  '30d': 30 * 24 * 3600e3,
};
export const kDefaultRange = '24h';

export function parseHash(hash) {
  const text = (hash || '').replace(/^#/, '');
  const [pathPart, queryPart = ''] = text.split('?');
  const parts = pathPart.split('/').filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(queryPart);
  let page = parts[0] || 'overview';
  if (!kPages.includes(page)) page = 'overview';
  const state = {
    page,
    id: parts[1] || '',
    range: params.get('range') || '',
    from: params.get('from') || '',
    to: params.get('to') || '',
    month: params.get('month') || '',
  };
  if (!state.from && !kRanges[state.range]) state.range = kDefaultRange;
  if (state.from) state.range = '';
  return state;
}

export function formatHash(state) {
  let path = `#/${state.page}`;
  if (state.id) path += `/${encodeURIComponent(state.id)}`;
  const params = new URLSearchParams();
  if (state.from) {
    params.set('from', state.from);
    if (state.to) params.set('to', state.to);
  } else if (state.range && state.range !== kDefaultRange) {
    params.set('range', state.range);
  }
  if (state.month) params.set('month', state.month);
  const query = params.toString();
  return query ? `${path}?${query}` : path;
}

// A link to another view keeping the time range (and month).
export function link(state, page, id = '', extra = {}) {
  return formatHash({ ...state, page, id, ...extra });
}

// Parses an RFC 3339 time or milliseconds; NaN when it is neither.
function parseTime(text) {
  if (/^\d+$/.test(text)) return Number(text);
  return Date.parse(text);
}

// The window [fromMs, toMs] the state means at `nowMs`.
export function resolveRange(state, nowMs) {
  if (state.from) {
    const from = parseTime(state.from);
    const to = state.to ? parseTime(state.to) : nowMs;
    if (Number.isFinite(from) && Number.isFinite(to) && to > from) {
      return { fromMs: from, toMs: to, relative: false, label: 'custom' };
    }
  }
  const length = kRanges[state.range] || kRanges[kDefaultRange];
  return { fromMs: nowMs - length, toMs: nowMs, relative: true, label: state.range || kDefaultRange };
}

// The month a monthly page shows: the state's, else the month of the range's end.
export function resolveMonth(state, nowMs) {
  if (/^\d{4}-\d{2}$/.test(state.month)) return state.month;
  return new Date(resolveRange(state, nowMs).toMs).toISOString().slice(0, 7);
}

// [start, end) of a UTC month "YYYY-MM" in milliseconds.
export function monthBounds(month) {
  const [y, m] = month.split('-').map(Number);
  return { fromMs: Date.UTC(y, m - 1, 1), toMs: Date.UTC(y, m, 1) };
}

// The month before (n = 1) or n months before "YYYY-MM".
export function monthBefore(month, n = 1) {
  const [y, m] = month.split('-').map(Number);
  const d = new Date(Date.UTC(y, m - 1 - n, 1));
  return d.toISOString().slice(0, 7);
}
