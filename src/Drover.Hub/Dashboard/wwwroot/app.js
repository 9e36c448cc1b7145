// The dashboard's core: the operator's token, calls to the HTTP API, the live stream (GET /api/live, server-sent
// events read with fetch so that the token goes in the Authorization header, never in a URL), and the page router.
import { h, fill } from './ui.js';
import { overviewPage, arrivalsPage } from './overview.js';
import { agentsPage, agentPage } from './agents.js';
import { jobsPage, jobPage } from './jobs.js';

const TokenKey = 'drover.token';

export const app = {
  token: null,
  summary: null,
  // The jobs totals of the last 121 summaries, for the jobs page's chart.
  recent: [],
  view: null,
  live: null,
  watch: '',
};

// A token given in the page's address (#token=…, as `drover demo` prints it) is taken, then removed from the address
// and the history; it is kept for this tab only (sessionStorage), never in a cookie.
function takeToken() {
  const match = /(?:^#|[#&?])token=([^&]+)/.exec(location.hash);
  if (match) {
    sessionStorage.setItem(TokenKey, decodeURIComponent(match[1]));
    history.replaceState(null, '', location.pathname + '#/');
  }
  app.token = sessionStorage.getItem(TokenKey);
}

export class ApiError extends Error {
  constructor(status, detail, code) { super(detail); this.status = status; this.code = code; }
}

// Calls the API with the token. Answers: parsed JSON (or null for 204); throws ApiError with the problem's detail.
export async function api(path, options = {}) {
  const headers = { ...(options.headers || {}), Authorization: `Bearer ${app.token}` };
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) {
    signOut('The hub refused the token (expired, revoked or mistyped). Sign in again.');
    throw new ApiError(401, 'unauthorized');
  }
  const type = response.headers.get('content-type') || '';
  const body = type.includes('json') ? await response.json() : null;
  if (!response.ok) {
    const detail = body?.detail ?? body?.error ?? `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, detail, body?.code ?? body?.type);
  }
  return body;
}

// The API's query string from an object, leaving out empty values; arrays repeat the parameter.
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === '') continue;
    for (const one of Array.isArray(value) ? value : [value]) search.append(key, one);
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

function signOut(message) {
  sessionStorage.removeItem(TokenKey);
  app.token = null;
  stopLive();
  loginPage(message);
}

function loginPage(message) {
  document.getElementById('sign-out').hidden = true;
  const input = h('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'off', placeholder: 'drover_…', required: true });
  const form = h('form', { class: 'login', id: 'login', onsubmit: e => {
    e.preventDefault();
    sessionStorage.setItem(TokenKey, input.value.trim());
    app.token = input.value.trim();
    start();
  } },
  h('h1', {}, 'Sign in'),
  h('p', {}, 'An API token of this hub: a read token shows the fleet; sending and cancelling jobs needs a submit token. ',
    'The hub wrote an admin token to DATA/admin.token at its first start; make others with ', h('code', {}, 'drover tokens create'), '.'),
  message ? h('p', { class: 'error' }, message) : null,
  input,
  h('button', { type: 'submit' }, 'Sign in'));
  fill(document.getElementById('main'), form);
  input.focus();
}

// The live stream. Reconnects after a jittered 1–3 s pause when it breaks; a new watch list opens a new stream.
function startLive(watch) {
  const key = watch.join(',');
  if (app.live && app.watch === key) return;
  stopLive();
  app.watch = key;
  const controller = new AbortController();
  app.live = controller;
  (async () => {
    while (!controller.signal.aborted) {
      try {
        await readStream(key, controller.signal);
      } catch (e) {
        if (controller.signal.aborted) return;
        console.error('live stream', e);
      }
      setLive(false);
      await new Promise(resolve => setTimeout(resolve, 1000 + Math.random() * 2000));
    }
  })();
}

function stopLive() {
  app.live?.abort();
  app.live = null;
  app.watch = '';
  setLive(false);
}

async function readStream(watch, signal) {
  const response = await fetch(`/api/live${query({ watch })}`, { headers: { Authorization: `Bearer ${app.token}` }, signal });
  if (response.status === 401) { signOut('The hub refused the token. Sign in again.'); return; }
  if (!response.ok || !response.body) throw new Error(`live stream: ${response.status}`);
  setLive(true);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      dispatch(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
    }
  }
}

function dispatch(block) {
  let name = 'message';
  let data = '';
  for (const line of block.split('\n')) {
    if (line.startsWith('event: ')) name = line.slice(7);
    else if (line.startsWith('data: ')) data += line.slice(6);
  }
  if (!data) return;
  const payload = JSON.parse(data);
  if (name === 'summary') {
    app.summary = payload;
    app.recent.push({ submitted: payload.jobs.submittedTotal, finished: payload.jobs.finishedTotal });
    if (app.recent.length > 121) app.recent.shift();
    document.getElementById('hub').textContent = `hub ${payload.hubId} · ${payload.connected.toLocaleString('en-US')} connected`;
    app.view?.onSummary?.(payload);
  } else if (name === 'agents') {
    app.view?.onAgents?.(payload);
  }
}

function setLive(on) {
  const el = document.getElementById('live');
  el.className = `live ${on ? 'on' : 'off'}`;
  el.textContent = on ? 'live' : 'offline';
}

const routes = [
  [/^\/$/, () => overviewPage(), 'overview'],
  [/^\/arrivals$/, () => arrivalsPage(), 'arrivals'],
  [/^\/agents$/, params => agentsPage(params), 'agents'],
  [/^\/agents\/(.+)$/, (params, id) => agentPage(decodeURIComponent(id)), 'agents'],
  [/^\/jobs$/, params => jobsPage(params), 'jobs'],
  [/^\/jobs\/(.+)$/, (params, id) => jobPage(decodeURIComponent(id)), 'jobs'],
];

// Shows the page the address names. A page is { el, watch?, onSummary?, onAgents?, dispose? }.
async function route() {
  if (!app.token) { loginPage(); return; }
  const [path, search] = (location.hash.slice(1) || '/').split('?');
  const params = new URLSearchParams(search || '');
  app.view?.dispose?.();
  app.view = null;
  const main = document.getElementById('main');
  for (const [pattern, make, nav] of routes) {
    const match = pattern.exec(path);
    if (!match) continue;
    document.querySelectorAll('[data-nav]').forEach(a => a.classList.toggle('active', a.dataset.nav === nav));
    try {
      const view = await make(params, match[1]);
      app.view = view;
      fill(main, view.el);
      if (app.summary) view.onSummary?.(app.summary);
      startLive(view.watch || []);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return;
      fill(main, h('p', { class: 'error' }, e.message));
    }
    return;
  }
  fill(main, h('p', { class: 'error' }, `No page ${path}`));
}

// A page calls this when the agents on its screen change, to have the stream carry their reports.
export function watchAgents(ids) { startLive(ids); }

function start() {
  document.getElementById('sign-out').hidden = false;
  route();
}

takeToken();
document.getElementById('sign-out').addEventListener('click', () => signOut());
window.addEventListener('hashchange', () => { takeToken(); route(); });
if (app.token) start(); else loginPage();
