// Overview (the fleet, the agent port, the hub process, the store, the jobs) and Arrival health (do reports arrive as
// the slots predict). Both are drawn from the live stream's summary event alone: nothing is fetched.
import { h, fill, num, bytes, ms, pct, card, stateBadge, barChart } from './ui.js';

const States = ['online', 'late', 'lost', 'stale', 'retired'];

export function overviewPage() {
  const body = h('div', { id: 'overview-body' }, h('p', { class: 'muted' }, 'Waiting for the live stream…'));
  const el = h('section', { id: 'overview' }, h('h1', {}, 'Overview'), body);
  return { el, onSummary: s => fill(body, overview(s)) };
}

function overview(s) {
  const byState = h('div', { class: 'states' }, States.map(state => h('a', { href: `#/agents?state=${state}`, dataset: { count: state } }, stateBadge(`${state} ${num(s.byState[state])}`))));
  const c = s.connections;
  const p = s.process;
  const store = s.store;
  const jobs = s.jobs;
  return [
    h('div', { class: 'cards' },
      h('div', { class: 'card', id: 'agents-card' },
        h('div', { class: 'card-title' }, 'Agents'),
        h('div', { class: 'card-value', id: 'agents-total' }, num(s.agents)),
        byState),
      card('Online', h('span', { id: 'online-count' }, num(s.byState.online)), `${num(s.connected)} connected`, 'online-card'),
      card('Connections', `${num(c.open)} / ${num(c.maxConnections)}`, `${num(c.pending)} handshakes pending`, 'connections-card'),
      card('Open files', num(c.openFiles), `limit ${num(c.openFilesLimit)} · headroom ${num(c.openFilesHeadroom)}`, 'files-card'),
      card('Hub CPU', `${p.cpuPercent.toFixed(1)} %`, `of one core · ${p.cores} cores`, 'cpu-card'),
      card('Hub memory', bytes(p.workingSetBytes), `managed heap ${bytes(p.managedHeapBytes)} · ${p.threads} threads`, 'memory-card'),
      card('Store write lag', ms(store.writeLagMs), store.failing ? h('span', { class: 'error' }, 'the store is failing: writes wait') : `${num(store.pending)} agents waiting · ${num(store.flushes)} flushes`, 'store-card'),
      card('Reports', `${s.arrivals.reportsPerSecond.toFixed(1)}/s`, `slots predict ${s.arrivals.predictedPerSecond.toFixed(1)}/s · interval ${ms(s.intervalMs)}`, 'reports-card'),
      card('Jobs', `${num(jobs.byState.running)} running`, `${num(jobs.byState.queued)} queued · ${jobs.finishedPerSecond.toFixed(1)} finished/s`, 'jobs-card')),
    s.arrivals.warning ? h('div', { class: 'warning', id: 'silence-warning' }, s.arrivals.warning) : null,
    h('h2', {}, 'Reports per second, last two minutes'),
    barChart(s.arrivals.arrived, s.arrivals.predicted),
    h('p', { class: 'muted' }, `Hub ${s.hubId}, started ${new Date(s.startedAt).toISOString()}`, s.restartGrace ? ' (restart grace: nobody is marked lost yet)' : ''),
  ];
}

export function arrivalsPage() {
  const body = h('div', { id: 'arrivals-body' }, h('p', { class: 'muted' }, 'Waiting for the live stream…'));
  const el = h('section', { id: 'arrivals' }, h('h1', {}, 'Arrival health'), body);
  return { el, onSummary: s => fill(body, arrivals(s)) };
}

function arrivals(s) {
  const a = s.arrivals;
  const lag = a.lagMs;
  const ratio = a.predictedPerSecond > 0 ? a.reportsPerSecond / a.predictedPerSecond : 1;
  return [
    a.warning ? h('div', { class: 'warning', id: 'silence-warning' }, a.warning) : null,
    h('div', { class: 'cards' },
      card('Reports per second', h('span', { id: 'rate' }, a.reportsPerSecond.toFixed(1)), `over the last interval (${ms(s.intervalMs)})`),
      card('Slots predict', h('span', { id: 'predicted-rate' }, a.predictedPerSecond.toFixed(1)), `${num(s.connected)} connected agents / interval · arrived ${(100 * ratio).toFixed(0)} % of that`),
      card('On time', h('span', { id: 'on-time' }, pct(a.onTimeShare)), 'connected agents whose last report came within interval + grace'),
      card('Lag p50 / p90', `${ms(lag.p50)} / ${ms(lag.p90)}`, `p99 ${ms(lag.p99)} · max ${ms(lag.max)} · over ${num(lag.agents)} agents`, 'lag-card'),
      card('Went silent', h('span', { id: 'went-silent' }, num(a.wentSilent)), 'agents now late or lost that were heard from in the last two intervals')),
    h('h2', {}, `Arrived (bars), and predicted by the slots of the agents connected now (dashed), per second, last ${a.window} s`),
    barChart(a.arrived, a.predicted, 160),
    h('p', { class: 'muted' },
      'Each agent reports in its own slot of the interval, so arrivals should follow the dashed line. ',
      'A herd (everyone at the top of the minute) shows as spikes above it; gaps below it are agents that did not report. ',
      'Lag is how far after its slot each connected agent\u2019s latest report arrived (agents add a little jitter on purpose).'),
  ];
}
