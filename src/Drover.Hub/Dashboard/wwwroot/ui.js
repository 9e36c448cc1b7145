// Small DOM and formatting helpers. Everything an agent or a submitter sends (ids, labels, status fields, output)
// reaches the page through textContent only, never as HTML.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el) { el.replaceChildren(); return el; }

// Replaces el's children with these (nested arrays flattened; null, undefined and false left out).
export function fill(el, ...children) { el.replaceChildren(); append(el, children); return el; }

export const num = n => (n ?? 0).toLocaleString('en-US');

export function bytes(n) {
  if (n === null || n === undefined) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export function ms(n) {
  if (n === null || n === undefined) return '–';
  const abs = Math.abs(n);
  if (abs < 1000) return `${n} ms`;
  if (abs < 60000) return `${(n / 1000).toFixed(1)} s`;
  if (abs < 3600000) return `${(n / 60000).toFixed(1)} min`;
  return `${(n / 3600000).toFixed(1)} h`;
}

// "12 s ago", from an ISO time, against the hub's clock when the summary gave it.
export function ago(iso, now) {
  if (!iso) return '–';
  const delta = (now ?? Date.now()) - Date.parse(iso);
  if (delta < 0) return 'just now';
  if (delta < 1000) return 'now';
  return `${ms(Math.round(delta / 100) * 100).replace(/\.0 /, ' ')} ago`;
}

export const time = iso => iso ? new Date(iso).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '–';

export const pct = share => `${(100 * (share ?? 0)).toFixed(1)} %`;

export function stateBadge(state) {
  return h('span', { class: `state s-${state}` }, state);
}

export function card(title, value, detail, id) {
  return h('div', { class: 'card', id }, h('div', { class: 'card-title' }, title), h('div', { class: 'card-value' }, value), h('div', { class: 'card-detail muted' }, detail ?? ''));
}

export function table(headers, rows, attrs) {
  return h('table', attrs || {}, h('thead', {}, h('tr', {}, headers.map(t => h('th', {}, t)))), h('tbody', {}, rows));
}

// A bar chart of counts per second with a dashed line of a second series (what the slots predict; jobs submitted), as
// inline SVG. names: what the bars and the line count, for the tooltips and the label.
export function barChart(arrived, predicted, height = 120, names = ['arrived', 'predicted']) {
  const ns = 'http://www.w3.org/2000/svg';
  const width = 720;
  const count = arrived.length;
  const max = Math.max(1, ...arrived, ...(predicted || []));
  const barWidth = width / Math.max(1, count);
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('class', 'chart');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', `${names[0]} per second (bars) and ${names[1]} (line)`);
  arrived.forEach((value, i) => {
    const bar = document.createElementNS(ns, 'rect');
    const barHeight = (value / max) * (height - 10);
    bar.setAttribute('x', (i * barWidth).toFixed(1));
    bar.setAttribute('y', (height - barHeight).toFixed(1));
    bar.setAttribute('width', Math.max(1, barWidth - 1).toFixed(1));
    bar.setAttribute('height', barHeight.toFixed(1));
    bar.setAttribute('class', 'bar');
    const title = document.createElementNS(ns, 'title');
    title.textContent = `${value} ${names[0]}${predicted ? `, ${predicted[i]} ${names[1]}` : ''}`;
    bar.append(title);
    svg.append(bar);
  });
  if (predicted) {
    const line = document.createElementNS(ns, 'polyline');
    line.setAttribute('points', predicted.map((value, i) => `${((i + 0.5) * barWidth).toFixed(1)},${(height - (value / max) * (height - 10)).toFixed(1)}`).join(' '));
    line.setAttribute('class', 'predicted');
    svg.append(line);
  }
  return svg;
}

// A line of values over time (oldest first), as inline SVG: for a status field's history.
export function sparkline(values, label, width = 240, height = 40) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('class', 'sparkline');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  const min = Math.min(...values);
  const span = Math.max(1e-9, Math.max(...values) - min);
  const step = width / Math.max(1, values.length - 1);
  const line = document.createElementNS(ns, 'polyline');
  line.setAttribute('points', values.map((v, i) => `${(i * step).toFixed(1)},${(height - 3 - ((v - min) / span) * (height - 6)).toFixed(1)}`).join(' '));
  svg.append(line);
  return svg;
}

// Calls fn at most once per `wait` ms, the last call winning.
export function throttle(fn, wait) {
  let timer = null;
  let last = 0;
  return () => {
    if (timer) return;
    const delay = Math.max(0, last + wait - Date.now());
    timer = setTimeout(() => { timer = null; last = Date.now(); fn(); }, delay);
  };
}
