// Agents: the list (filtered, searched, sorted and paged by the hub, so 20,000 agents cost one page) and one agent's
// page (latest status, history, connection events, jobs). The live stream updates the rows on screen in place.
import { h, fill, num, ago, time, stateBadge, table, throttle, sparkline } from './ui.js';
import { api, app, query, watchAgents } from './app.js';

const PageSize = 50;
const States = ['', 'online', 'late', 'lost', 'stale', 'retired'];
const Sorts = [['id', 'id'], ['lastSeen', 'last seen (oldest first)'], ['-lastSeen', 'last seen (newest first)'], ['state', 'state']];

export async function agentsPage(params) {
  const filter = {
    state: params.get('state') || '',
    label: params.getAll('label'),
    q: params.get('q') || '',
    sort: params.get('sort') || 'id',
  };
  const cursors = [null];
  let index = 0;
  const tbody = h('tbody', { id: 'agent-rows' });
  const total = h('span', { id: 'agents-total' });
  const pageInfo = h('span', { class: 'muted' });
  let nextCursor = null;
  let watched = [];
  const prev = h('button', { type: 'button', class: 'secondary', id: 'agents-prev', onclick: () => { if (index > 0) { index--; load(); } } }, 'Previous');
  const next = h('button', { type: 'button', class: 'secondary', id: 'agents-next', onclick: () => { if (nextCursor) { cursors[++index] = nextCursor; load(); } } }, 'Next');

  const apply = () => {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(filter)) for (const one of [value].flat()) if (one && !(key === 'sort' && one === 'id')) search.append(key, one);
    location.hash = `#/agents${search.toString() ? `?${search}` : ''}`;
  };
  const searchBox = h('input', { type: 'search', id: 'agent-search', placeholder: 'search ids', value: filter.q, onchange: e => { filter.q = e.target.value.trim(); apply(); } });
  const stateSelect = h('select', { id: 'agent-state', onchange: e => { filter.state = e.target.value; apply(); } },
    States.map(s => h('option', { value: s, selected: s === filter.state }, s || 'any state')));
  const labelBox = h('input', { type: 'text', id: 'agent-label', placeholder: 'label key=value', value: filter.label.join(' '), onchange: e => { filter.label = e.target.value.split(/\s+/).filter(Boolean); apply(); } });
  const sortSelect = h('select', { id: 'agent-sort', onchange: e => { filter.sort = e.target.value; apply(); } },
    Sorts.map(([value, text]) => h('option', { value, selected: value === filter.sort }, `sort by ${text}`)));

  async function load() {
    const page = await api(`/api/agents${query({ ...filter, sort: filter.sort === 'id' ? '' : filter.sort, limit: PageSize, cursor: cursors[index] })}`);
    nextCursor = page.next;
    prev.disabled = index === 0;
    next.disabled = !nextCursor;
    total.textContent = num(page.total);
    pageInfo.textContent = `page ${index + 1} of ${Math.max(1, Math.ceil(page.total / PageSize))}`;
    fill(tbody, page.items.map(agentRow));
    watched = page.items.map(a => a.id);
    watchAgents(watched);
  }

  // Joins and presence changes of agents not on screen can change which agents this page shows: read it again.
  const reload = throttle(load, 2000);
  await load();

  const el = h('section', { id: 'agents' },
    h('h1', {}, 'Agents ', h('span', { class: 'muted' }, '(', total, ')')),
    h('div', { class: 'controls' }, searchBox, stateSelect, labelBox, sortSelect),
    table(['id', 'state', 'last seen', 'status', 'version', 'address', 'labels', 'jobs'], [], { id: 'agents-table' }),
    h('div', { class: 'pager' }, prev, next, pageInfo));
  el.querySelector('tbody').replaceWith(tbody);
  return {
    el,
    get watch() { return watched; },
    onAgents: change => {
      let outside = false;
      for (const agent of change.changed) {
        const row = tbody.querySelector(`tr[data-agent="${CSS.escape(agent.id)}"]`);
        if (row) updateRow(row, agent); else outside = true;
      }
      if (outside || change.more > 0) reload();
    },
    onSummary: () => tbody.querySelectorAll('tr').forEach(row => { row.querySelector('.seen').textContent = ago(row.dataset.lastSeen, hubNow()); }),
  };
}

export function hubNow() {
  return app.summary ? Date.parse(app.summary.at) : Date.now();
}

function agentRow(agent) {
  const status = agent.status;
  return h('tr', { dataset: { agent: agent.id, lastSeen: agent.lastSeen } },
    h('td', {}, h('a', { href: `#/agents/${encodeURIComponent(agent.id)}` }, agent.id)),
    h('td', { class: 'presence' }, stateBadge(agent.state)),
    h('td', { class: 'seen', title: time(agent.lastSeen) }, ago(agent.lastSeen, hubNow())),
    h('td', { class: 'status' }, statusText(status?.state, status?.progress, status?.seq)),
    h('td', {}, agent.version),
    h('td', {}, agent.address),
    h('td', {}, Object.entries(agent.labels || {}).map(([k, v]) => `${k}=${v}`).join(' ')),
    h('td', { class: 'num' }, `${agent.jobsInFlight}/${agent.jobSlots}`));
}

function statusText(state, progress, seq) {
  if (!state) return '–';
  return `${state}${progress !== null && progress !== undefined ? ` ${progress}%` : ''} · #${seq}`;
}

function updateRow(row, agent) {
  row.dataset.lastSeen = agent.lastSeen;
  row.querySelector('.presence').replaceChildren(stateBadge(agent.state));
  row.querySelector('.seen').textContent = ago(agent.lastSeen, hubNow());
  row.querySelector('.status').textContent = statusText(agent.status, agent.progress, agent.seq);
  row.classList.remove('flash');
  void row.offsetWidth;
  row.classList.add('flash');
}

export async function agentPage(id) {
  const path = `/api/agents/${encodeURIComponent(id)}`;
  const header = h('div', { id: 'agent-facts' });
  const history = h('div', { id: 'agent-history' });
  const events = h('div', { id: 'agent-events' });
  const jobs = h('div', { id: 'agent-jobs' });

  async function loadAgent() {
    const detail = await api(path);
    fill(header, facts(detail.agent ?? detail));
    let samples;
    try {
      samples = (await api(`${path}/history${query({ limit: 100 })}`)).items;
    } catch {
      samples = detail.history ?? [];
    }
    fill(history, historyTable(samples));
  }

  async function loadEvents() {
    try {
      const page = await api(`${path}/events${query({ limit: 50 })}`);
      fill(events, page.items.length ? table(['at', 'event', 'detail'], page.items.map(e =>
        h('tr', {}, h('td', {}, time(e.at)), h('td', {}, e.kind), h('td', {}, e.detail ?? e.reason ?? '')))) : h('p', { class: 'muted' }, 'No events stored.'));
    } catch (e) {
      fill(events, h('p', { class: 'muted' }, `Events: ${e.message}`));
    }
  }

  async function loadJobs() {
    const page = await api(`/api/jobs${query({ agent: id, limit: 20, sort: '-id' })}`);
    fill(jobs, page.items.length ? table(['job', 'state', 'name', 'exit', 'submitted'], page.items.map(j =>
      h('tr', {}, h('td', {}, h('a', { href: `#/jobs/${encodeURIComponent(j.id)}` }, j.id)), h('td', {}, stateBadge(j.state)), h('td', {}, j.name), h('td', { class: 'num' }, j.exitCode ?? '–'), h('td', {}, time(j.submittedAt))))) : h('p', { class: 'muted' }, 'No jobs on this agent.'));
  }

  await Promise.all([loadAgent(), loadEvents(), loadJobs()]);
  const refresh = throttle(() => { loadAgent(); loadEvents(); }, 2000);
  const el = h('section', { id: 'agent' },
    h('h1', {}, h('a', { href: '#/agents' }, 'Agents'), ' / ', id),
    header,
    h('div', { class: 'grid2' },
      h('div', {}, h('h2', {}, 'Status history'), history),
      h('div', {}, h('h2', {}, 'Connection events'), events, h('h2', {}, 'Recent jobs'), jobs)));
  return { el, watch: [id], onAgents: change => { if (change.changed.some(a => a.id === id)) refresh(); } };
}

function facts(agent) {
  const status = agent.status;
  const rows = [
    ['state', stateBadge(agent.state)],
    ['connected', agent.connected ? 'yes' : 'no'],
    ['last seen', `${time(agent.lastSeen)} (${ago(agent.lastSeen, hubNow())})`],
    ['first seen', time(agent.firstSeen)],
    ['address', agent.address],
    ['version', agent.version],
    ['labels', Object.entries(agent.labels || {}).map(([k, v]) => `${k}=${v}`).join(' ') || '–'],
    ['session epoch', String(agent.sessionEpoch)],
    ['slot', `${agent.slotOffsetMs} ms into the interval`],
    ['last disconnect', agent.lastDisconnectReason ?? '–'],
    ['id flaps', num(agent.idFlaps)],
    ['jobs', `${agent.jobsInFlight} running of ${agent.jobSlots} slots`],
    ['status', status ? `${status.state}${status.progress !== null ? ` ${status.progress}%` : ''}, report #${status.seq} at ${time(status.receivedAt)}` : '–'],
  ];
  const fields = status ? Object.entries(status.fields).map(([k, v]) => h('tr', {}, h('td', {}, k), h('td', { class: 'num' }, String(v)))) : [];
  return [
    h('dl', { class: 'facts' }, rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', { dataset: { fact: k } }, v)])),
    fields.length ? [h('h2', {}, 'Latest status fields'), table(['field', 'value'], fields, { id: 'status-fields' })] : null,
  ];
}

function historyTable(samples) {
  if (!samples.length) return h('p', { class: 'muted' }, 'No reports stored yet.');
  const keys = [...new Set(samples.flatMap(s => Object.keys(s.fields || {})))].slice(0, 4);
  // Numeric fields over the stored reports (oldest first), one small line each.
  const numeric = [...new Set(samples.flatMap(s => Object.keys(s.fields || {})))]
    .filter(k => samples.every(s => typeof s.fields?.[k] === 'number')).slice(0, 6);
  const lines = samples.length > 1 ? h('div', { class: 'sparklines', id: 'history-lines' }, numeric.map(k => {
    const values = samples.map(s => s.fields[k]).reverse();
    return h('div', { class: 'sparkline-box' }, h('div', { class: 'muted' }, `${k}: ${values[values.length - 1]}`), sparkline(values, `${k} over the last ${values.length} reports`));
  })) : null;
  return [lines, table(['received', 'seq', 'state', 'progress', ...keys], samples.map(s =>
    h('tr', { class: 'sample' }, h('td', {}, time(s.receivedAt)), h('td', { class: 'num' }, s.seq), h('td', {}, s.state), h('td', { class: 'num' }, s.progress ?? '–'),
      keys.map(k => h('td', { class: 'num' }, s.fields?.[k] ?? '')))), { id: 'history-table' })];
}
