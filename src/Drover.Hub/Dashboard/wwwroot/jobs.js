// Jobs: counts by state and throughput (from the live summary), sending files, the latest jobs (read again only when
// the summary says jobs were submitted or finished), and one job's page with its attempts, result and output.
import { h, fill, num, ms, time, stateBadge, table, throttle, barChart } from './ui.js';
import { api, app, query, ApiError } from './app.js';

const States = ['', 'queued', 'running', 'done', 'dead', 'cancelled'];

export async function jobsPage(params) {
  const state = params.get('state') || '';
  const counts = h('div', { class: 'cards', id: 'job-counts' });
  const chart = h('div', { id: 'jobs-chart' });
  const list = h('div', { id: 'job-list' });
  let seen = null;

  async function load() {
    const page = await api(`/api/jobs${query({ state, limit: 50, sort: '-id' })}`);
    fill(list, page.items.length ? table(['job', 'state', 'name', 'target', 'agent', 'attempt', 'exit', 'duration', 'submitted'], page.items.map(jobRow), { id: 'jobs-table' }) : h('p', { class: 'muted' }, 'No jobs.'));
  }

  const reload = throttle(load, 2000);
  await load();
  const stateSelect = h('select', { id: 'job-state', onchange: e => { location.hash = `#/jobs${e.target.value ? `?state=${e.target.value}` : ''}`; } },
    States.map(s => h('option', { value: s, selected: s === state }, s || 'any state')));
  const el = h('section', { id: 'jobs' },
    h('h1', {}, 'Jobs'),
    counts,
    h('h2', {}, 'Jobs finished (bars) and submitted (dashed) per second, since this page opened'),
    chart,
    h('h2', {}, 'Send files'),
    submitForm(reload),
    h('h2', {}, 'Latest jobs'),
    h('div', { class: 'controls' }, stateSelect),
    list);
  return {
    el,
    onSummary: s => {
      const j = s.jobs;
      fill(counts,
        ['queued', 'running', 'done', 'dead', 'cancelled'].map(k => h('a', { href: `#/jobs?state=${k}`, class: 'card', dataset: { jobs: k } }, h('div', { class: 'card-title' }, k), h('div', { class: 'card-value' }, num(j.byState[k])))),
        h('div', { class: 'card' }, h('div', { class: 'card-title' }, 'finished per second'), h('div', { class: 'card-value', id: 'jobs-rate' }, j.finishedPerSecond.toFixed(1)), h('div', { class: 'card-detail muted' }, `${num(j.submittedTotal)} submitted, ${num(j.finishedTotal)} finished since start`)));
      const deltas = key => app.recent.slice(1).map((r, i) => Math.max(0, r[key] - app.recent[i][key]));
      fill(chart, barChart(deltas('finished'), deltas('submitted'), 100, ['finished', 'submitted']));
      const mark = `${j.submittedTotal}/${j.finishedTotal}/${j.byState.running}/${j.byState.cancelled}`;
      if (seen !== null && mark !== seen) reload();
      seen = mark;
    },
  };
}

function jobRow(j) {
  return h('tr', { dataset: { job: j.id } },
    h('td', {}, h('a', { href: `#/jobs/${encodeURIComponent(j.id)}` }, j.id)),
    h('td', { class: 'job-state' }, stateBadge(j.state)),
    h('td', {}, j.name),
    h('td', {}, j.target),
    h('td', {}, j.agent ? h('a', { href: `#/agents/${encodeURIComponent(j.agent)}` }, j.agent) : '–'),
    h('td', { class: 'num' }, j.attempt),
    h('td', { class: 'num' }, j.exitCode ?? '–'),
    h('td', { class: 'num' }, j.durationMs !== null ? ms(j.durationMs) : '–'),
    h('td', {}, time(j.submittedAt)));
}

// POST /api/jobs: one file as the raw body (named by `name`), several as multipart/form-data, one job each.
function submitForm(onSent) {
  const files = h('input', { type: 'file', id: 'submit-files', multiple: true, required: true });
  const to = h('input', { type: 'text', id: 'submit-to', value: 'random', title: 'random, least-loaded, agent:ID or label:key=value' });
  const args = h('input', { type: 'text', id: 'submit-args', placeholder: 'arguments (optional)' });
  const timeout = h('input', { type: 'text', id: 'submit-timeout', value: '5m', size: 5 });
  const retries = h('input', { type: 'number', id: 'submit-retries', value: 2, min: 0, max: 100, class: 'narrow' });
  const result = h('span', { id: 'submit-result' });
  const form = h('form', { class: 'controls', id: 'submit-form', onsubmit: async e => {
    e.preventDefault();
    const chosen = [...files.files];
    if (!chosen.length) return;
    const params = { to: to.value.trim(), args: args.value, timeout: timeout.value.trim(), retries: retries.value };
    let body;
    if (chosen.length === 1) {
      params.name = chosen[0].name;
      body = chosen[0];
    } else {
      body = new FormData();
      chosen.forEach(f => body.append('file', f, f.name));
    }
    try {
      const answer = await api(`/api/jobs${query(params)}`, { method: 'POST', body, headers: chosen.length === 1 ? { 'Content-Type': 'application/octet-stream' } : {} });
      result.className = '';
      result.replaceChildren(`Sent ${answer.jobs.length} job${answer.jobs.length === 1 ? '' : 's'}: `, ...answer.jobs.map(j => h('a', { href: `#/jobs/${encodeURIComponent(j.id)}` }, j.id, ' ')), answer.warning ? ` (${answer.warning})` : '');
      form.reset();
      onSent();
    } catch (err) {
      result.className = 'error';
      result.textContent = err instanceof ApiError && err.status === 403 ? `Refused: ${err.message} (sending needs a submit token)` : err.message;
    }
  } },
  files, h('label', {}, 'to ', to), args, h('label', {}, 'timeout ', timeout), h('label', {}, 'retries ', retries), h('button', { type: 'submit' }, 'Send'), result);
  return form;
}

export async function jobPage(id) {
  const path = `/api/jobs/${encodeURIComponent(id)}`;
  const body = h('div', { id: 'job-body' });
  let final = false;

  async function load() {
    const job = await api(path);
    final = ['done', 'dead', 'cancelled'].includes(job.state);
    let attempts = [];
    try { attempts = (await api(`${path}/attempts`)).items; } catch (e) { if (!(e instanceof ApiError) || e.status !== 404) throw e; }
    fill(body, jobFacts(job, load), attemptsTable(attempts, job), output(job));
  }

  await load();
  const reload = throttle(load, 1000);
  const el = h('section', { id: 'job' }, h('h1', {}, h('a', { href: '#/jobs' }, 'Jobs'), ' / ', id), body);
  let seen = null;
  return {
    el,
    onSummary: s => {
      const mark = `${s.jobs.finishedTotal}/${s.jobs.byState.running}/${s.jobs.byState.cancelled}`;
      if (!final && seen !== null && mark !== seen) reload();
      seen = mark;
    },
  };
}

function jobFacts(job, reload) {
  const message = h('span', { id: 'cancel-result' });
  const cancel = ['queued', 'running'].includes(job.state)
    ? h('button', { type: 'button', id: 'cancel-job', onclick: async () => {
      try { await api(`/api/jobs/${encodeURIComponent(job.id)}`, { method: 'DELETE' }); reload(); } catch (e) { message.className = 'error'; message.textContent = e.message; }
    } }, 'Cancel job')
    : null;
  const rows = [
    ['state', h('span', { id: 'job-state' }, stateBadge(job.state))],
    ['name', job.name], ['size', `${num(job.size)} bytes`], ['sha256', job.sha256], ['target', job.target],
    ['args', job.args || '–'], ['priority', job.priority], ['timeout', ms(job.timeoutMs)], ['retries', job.retries],
    ['attempt', job.attempt], ['agent', job.agent ? h('a', { href: `#/agents/${encodeURIComponent(job.agent)}` }, job.agent) : '–'],
    ['submitted', time(job.submittedAt)], ['finished', time(job.finishedAt)], ['dead reason', job.deadReason ?? '–'],
    ['outcome', job.outcome ?? '–'], ['exit code', job.exitCode ?? '–'], ['duration', job.durationMs !== null ? ms(job.durationMs) : '–'],
  ];
  return [h('dl', { class: 'facts' }, rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])), h('p', {}, cancel, ' ', message)];
}

function attemptsTable(attempts, job) {
  if (!attempts.length) return h('p', { class: 'muted' }, job.attempt ? `Attempt ${job.attempt} on ${job.agent ?? 'no agent yet'}.` : 'Not placed yet.');
  return [h('h2', {}, 'Attempts'), table(['attempt', 'agent', 'outcome', 'exit', 'error', 'recorded'], attempts.map(a =>
    h('tr', {}, h('td', { class: 'num' }, a.attempt), h('td', {}, a.agent ?? '–'), h('td', {}, a.outcome), h('td', { class: 'num' }, a.exitCode ?? '–'), h('td', {}, a.error || ''), h('td', {}, time(a.recordedAt)))), { id: 'attempts-table' })];
}

function output(job) {
  return [
    h('h2', {}, 'Output (the tails the agent sent)'),
    h('div', { class: 'grid2' },
      h('div', {}, h('div', { class: 'muted' }, 'stdout'), h('pre', { id: 'job-stdout' }, job.stdout ?? '')),
      h('div', {}, h('div', { class: 'muted' }, 'stderr'), h('pre', { id: 'job-stderr' }, job.stderr ?? ''))),
  ];
}
