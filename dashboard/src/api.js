// The collector's JSON API (docs/api.md), with the user's bearer token.
//
// Every figure on the dashboard comes from these calls, so a token has the
// same rights here as with curl or plumb. The token is kept in
// sessionStorage (this tab only, gone when it closes), never in the URL.

const kTokenKey = 'plumbline.token';

export class ApiError extends Error {
  constructor(status, code, message, path) {
    super(message);
    this.status = status;
    this.code = code;
    this.path = path;
  }
  // 401 or 403: the user must give a (better) token.
  get needsToken() {
    return this.status === 401 || this.status === 403;
  }
}

export function token() {
  try {
    return sessionStorage.getItem(kTokenKey) || '';
  } catch {
    return '';
  }
}

export function setToken(value) {
  try {
    if (value) {
      sessionStorage.setItem(kTokenKey, value);
    } else {
      sessionStorage.removeItem(kTokenKey);
    }
  } catch {
    // Storage disabled: the token lasts until the page is reloaded.
  }
}

function headers() {
  const t = token();
  return t ? { Authorization: `Bearer ${t}` } : {};
}

// At most this many calls in flight, so one tab holds few of the
// collector's HTTP threads (each keep-alive connection holds one).
const kMaxInFlight = 4;
let inFlight = 0;
const waiting = [];

async function slot() {
  if (inFlight < kMaxInFlight) {
    inFlight += 1;
    return;
  }
  await new Promise((resolve) => waiting.push(resolve));
}

function release() {
  const next = waiting.shift();
  if (next) {
    next();  // the slot passes straight to the next call
  } else {
    inFlight -= 1;
  }
}

// Fetches `path` and reads its body as `kind` ("json" or "blob") within
// one slot; an answer other than 2xx becomes an ApiError.
async function request(path, kind) {
  await slot();
  try {
    let res;
    try {
      res = await fetch(path, { headers: headers(), cache: 'no-store' });
    } catch (e) {
      throw new ApiError(0, 'unavailable', `the collector did not answer (${e.message})`, path);
    }
    if (!res.ok) {
      let body = {};
      try {
        body = await res.json();
      } catch {
        // Not JSON: keep the status alone.
      }
      throw new ApiError(res.status, body.code || '', body.error || `HTTP ${res.status}`, path);
    }
    return kind === 'blob' ? await res.blob() : await res.json();
  } finally {
    release();
  }
}

// GET /api/v1/<path> with query parameters (arrays repeat the parameter).
export function apiPath(path, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '') continue;
    for (const one of Array.isArray(v) ? v : [v]) q.append(k, String(one));
  }
  const query = q.toString();
  return `/api/v1/${path}${query ? `?${query}` : ''}`;
}

export function get(path, params = {}) {
  return request(apiPath(path, params), 'json');
}

// Like get(), but an API error becomes { error } instead of a rejection
// (except a missing or insufficient token, which the caller must handle).
export async function tryGet(path, params = {}) {
  try {
    return await get(path, params);
  } catch (e) {
    if (e instanceof ApiError && !e.needsToken) return { error: e };
    throw e;
  }
}

// Downloads a file from the API with the token (a plain link could not
// carry the Authorization header): fetch, then save the Blob.
export async function download(path, params, filename) {
  const blob = await request(apiPath(path, params), 'blob');
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// Runs `tasks` (functions returning promises) at most `limit` at a time; the
// collector's HTTP server has a small thread pool.
export async function pooled(tasks, limit = 3) {
  const results = new Array(tasks.length);
  let next = 0;
  async function worker() {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]();
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}
