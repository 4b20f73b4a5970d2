// The Sluice console: pipelines, their stages and actions, executions,
// logs, approvals. Everything comes from /api/v1; /api/v1/events keeps the
// page current. Text from the server is always set as text, never as HTML.

const API = '/api/v1';
const view = document.getElementById('view');
const notice = document.getElementById('notice');
const live = document.getElementById('live');

// ------------------------------------------------------------ the token

// `#token=...` in the address (as `sluice serve` prints it) is kept, then
// removed from the address bar.
(function takeTokenFromAddress() {
  const m = location.hash.match(/^#token=([^&]+)/);
  if (m) {
    localStorage.setItem('sluice-token', decodeURIComponent(m[1]));
    history.replaceState(null, '', location.pathname + '#/');
  }
})();

const tokenInput = document.getElementById('token');
tokenInput.value = localStorage.getItem('sluice-token') || '';
document.getElementById('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  localStorage.setItem('sluice-token', tokenInput.value.trim());
  say('Token saved.');
});

// ------------------------------------------------------------ helpers

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function say(text, error = false) {
  notice.hidden = false;
  notice.className = error ? 'notice error' : 'notice';
  notice.textContent = text;
  clearTimeout(say.timer);
  say.timer = setTimeout(() => { notice.hidden = true; }, error ? 8000 : 3000);
}

async function api(method, path, body) {
  const headers = { 'Accept': 'application/json' };
  const token = localStorage.getItem('sluice-token');
  if (token) headers['Authorization'] = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(API + path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const error = data && data.error ? data.error : { message: response.statusText };
    throw new Error(error.message || `${response.status}`);
  }
  return data;
}

async function act(label, fn) {
  try {
    const answer = await fn();
    say(answer && answer.message ? answer.message : `${label}: done`);
    refresh();
    return answer;
  } catch (e) {
    say(`${label}: ${e.message}`, true);
    return null;
  }
}

const enc = encodeURIComponent;

function duration(start, end) {
  if (!start) return '';
  const ms = Math.max(0, (end || Date.now()) - start);
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)}s`;
  const m = Math.floor(ms / 60000);
  const s = Math.floor((ms % 60000) / 1000);
  return m < 60 ? `${m}m${String(s).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

function when(ms) {
  return ms ? new Date(ms).toLocaleString() : '';
}

function statusOf(action) {
  if (!action) return 'None';
  if (action.waiting_for_approval || action.awaiting_approval) return 'WaitingForApproval';
  return action.status || 'None';
}

function badge(status) {
  return el('span', { class: `badge s-${status || 'None'}` }, status || '—');
}

function short(id) {
  return id ? id.slice(0, 8) : '';
}

// ------------------------------------------------------------ routing

let current = { render: async () => {} };

function route() {
  const hash = location.hash || '#/';
  let m;
  if ((m = hash.match(/^#\/pipelines\/([^/]+)$/))) {
    current = { render: () => renderPipeline(decodeURIComponent(m[1])), pipeline: decodeURIComponent(m[1]) };
  } else if ((m = hash.match(/^#\/executions\/([^/]+)$/))) {
    current = { render: () => renderExecution(decodeURIComponent(m[1])), execution: decodeURIComponent(m[1]) };
  } else {
    current = { render: renderPipelines };
  }
  closeLogStreams();
  refresh();
}

let pending = null;
function refresh() {
  if (pending) return;
  pending = setTimeout(async () => {
    pending = null;
    try {
      await current.render();
    } catch (e) {
      view.replaceChildren(el('p', { class: 'error' }, e.message));
    }
  }, 60);
}

window.addEventListener('hashchange', route);

// ------------------------------------------------------------ live updates

// Event streams cannot send headers: the token goes in the address.
function tokenQuery() {
  const token = localStorage.getItem('sluice-token');
  return token ? `?access_token=${encodeURIComponent(token)}` : '';
}

let source = null;
function connect() {
  source = new EventSource(`${API}/events${tokenQuery()}`);
  source.addEventListener('ready', () => {
    live.textContent = 'live';
    live.className = 'live on';
  });
  const changed = () => refresh();
  source.addEventListener('execution', changed);
  source.addEventListener('pipeline', changed);
  source.addEventListener('lagged', changed);
  source.onerror = () => {
    live.textContent = 'reconnecting';
    live.className = 'live off';
  };
}

// ------------------------------------------------------------ pipelines

async function renderPipelines() {
  const pipelines = await api('GET', '/pipelines');
  const rows = pipelines.map((p) => {
    const [id, status] = p.latest_execution || [];
    return el('tr', { dataset: { pipeline: p.name } },
      el('td', {}, el('a', { href: `#/pipelines/${enc(p.name)}`, class: 'pipeline-link' }, p.name)),
      el('td', { class: 'num' }, p.version),
      el('td', {}, status ? badge(status) : el('span', { class: 'muted' }, 'no execution yet')),
      el('td', {}, id ? el('a', { href: `#/executions/${enc(id)}` }, short(id)) : ''),
      el('td', { class: 'muted' }, when(p.updated_at)));
  });
  view.replaceChildren(
    el('h1', {}, 'Pipelines'),
    pipelines.length === 0
      ? el('p', { class: 'muted' }, 'No pipelines yet: `sluice pipeline apply FILE`, or PUT /api/v1/pipelines.')
      : el('table', { class: 'list', id: 'pipelines' },
        el('thead', {}, el('tr', {}, el('th', {}, 'Pipeline'), el('th', {}, 'Version'), el('th', {}, 'Latest execution'), el('th', {}, ''), el('th', {}, 'Updated'))),
        el('tbody', {}, rows)));
}

// ------------------------------------------------------------ one pipeline

async function renderPipeline(name) {
  const [state, executions] = await Promise.all([
    api('GET', `/pipelines/${enc(name)}/state`),
    api('GET', `/pipelines/${enc(name)}/executions?limit=20`),
  ]);
  const stages = [];
  state.stages.forEach((stage, index) => {
    if (index > 0) stages.push(transition(name, stage));
    stages.push(stageCard(stage));
  });
  view.replaceChildren(
    el('div', { class: 'title-row' },
      el('h1', {}, name),
      el('span', { class: 'muted' }, `version ${state.version} · ${state.execution_mode}`),
      el('button', { id: 'start', class: 'primary', onclick: () => act('Start', () => api('POST', `/pipelines/${enc(name)}/executions`, {})) }, 'Start execution')),
    el('div', { class: 'stages', id: 'stages' }, stages),
    el('h2', {}, 'Execution history'),
    historyTable(executions));
}

function transition(pipeline, stage) {
  const t = stage.transition || { enabled: true };
  const toggle = () => {
    if (t.enabled) {
      const reason = prompt(`Disable the transition into ${stage.name}? Reason:`, '');
      if (reason === null) return;
      act('Disable transition', () => api('PUT', `/pipelines/${enc(pipeline)}/stages/${enc(stage.name)}/transition`, { enabled: false, reason }));
    } else {
      act('Enable transition', () => api('PUT', `/pipelines/${enc(pipeline)}/stages/${enc(stage.name)}/transition`, { enabled: true }));
    }
  };
  return el('div', { class: `transition ${t.enabled ? 'enabled' : 'disabled'}`, dataset: { stage: stage.name } },
    el('span', { class: 'arrow' }, t.enabled ? '→' : '⤫'),
    el('button', { class: 'small transition-toggle', onclick: toggle, title: t.enabled ? 'Disable this transition' : 'Enable this transition' }, t.enabled ? 'Disable' : 'Enable'),
    !t.enabled && t.reason ? el('span', { class: 'reason' }, t.reason) : null);
}

function stageCard(stage) {
  const latest = stage.latest_execution;
  const orders = new Map();
  for (const action of stage.actions) {
    if (!orders.has(action.run_order)) orders.set(action.run_order, []);
    orders.get(action.run_order).push(action);
  }
  const columns = [...orders.keys()].sort((a, b) => a - b).map((order) =>
    el('div', { class: 'run-order' }, orders.get(order).map((a) => actionBox(a, latest))));
  return el('section', { class: `stage s-${latest ? latest.stage_status || 'None' : 'None'}`, dataset: { stage: stage.name } },
    el('header', {},
      el('strong', {}, stage.name),
      latest ? badge(latest.stage_status) : el('span', { class: 'muted' }, 'no execution')),
    latest
      ? el('div', { class: 'holder' }, 'execution ', el('a', { href: `#/executions/${enc(latest.id)}` }, short(latest.id)), ' ', badge(latest.execution_status))
      : null,
    stage.inbound_executions.length
      ? el('div', { class: 'inbound' }, 'waiting: ', stage.inbound_executions.map((id) => el('a', { href: `#/executions/${enc(id)}` }, short(id), ' ')))
      : null,
    el('div', { class: 'run-orders' }, columns));
}

function actionBox(action, latest) {
  const status = statusOf(action);
  return el('div', { class: `action s-${status}`, dataset: { action: action.name, status } },
    el('div', { class: 'action-head' }, el('span', { class: 'name' }, action.name), el('span', { class: 'took' }, duration(action.started_at, action.ended_at))),
    el('div', { class: 'provider muted' }, action.provider),
    el('div', { class: 'status' }, badge(status)),
    action.error ? el('div', { class: 'error' }, action.error) : action.summary ? el('div', { class: 'summary' }, action.summary) : null,
    status === 'WaitingForApproval' && latest ? approvalForm(latest.id, latest.stage_name || null, action.name) : null);
}

function historyTable(executions) {
  if (!executions.length) return el('p', { class: 'muted' }, 'No executions yet.');
  return el('table', { class: 'list', id: 'history' },
    el('thead', {}, el('tr', {}, el('th', {}, 'Execution'), el('th', {}, 'Status'), el('th', {}, 'Trigger'), el('th', {}, 'Revisions'), el('th', {}, 'Started'), el('th', {}, 'Duration'))),
    el('tbody', {}, executions.map((e) => el('tr', {},
      el('td', {}, el('a', { href: `#/executions/${enc(e.id)}` }, short(e.id))),
      el('td', {}, badge(e.status), e.status_reason ? el('span', { class: 'muted' }, ` ${e.status_reason}`) : null),
      el('td', {}, e.trigger),
      el('td', { class: 'mono' }, e.source_revisions.map((r) => `${r.action}=${r.revision ? r.revision.id.slice(0, 12) : '?'}`).join(' ')),
      el('td', { class: 'muted' }, when(e.started_at)),
      el('td', {}, duration(e.started_at, e.ended_at))))));
}

// ------------------------------------------------------------ one execution

function approvalForm(execution, stage, action) {
  const summary = el('input', { type: 'text', class: 'approval-summary', placeholder: 'summary (optional)' });
  const decide = (status) => {
    const target = stage || summary.closest('[data-stage]')?.dataset.stage;
    return act(status === 'approved' ? 'Approve' : 'Reject', () => api('PUT',
      `/executions/${enc(execution)}/stages/${enc(target)}/actions/${enc(action)}/approval`,
      { status, summary: summary.value || null }));
  };
  return el('div', { class: 'approval' },
    summary,
    el('button', { class: 'approve', onclick: () => decide('approved') }, 'Approve'),
    el('button', { class: 'reject', onclick: () => decide('rejected') }, 'Reject'));
}

let logStreams = [];
function closeLogStreams() {
  for (const s of logStreams) s.close();
  logStreams = [];
}

function logPanel(execution, stage, action, running) {
  const pre = el('pre', { class: 'log' });
  const details = el('details', { class: 'log-panel', dataset: { log: `${stage}/${action}` } }, el('summary', {}, 'Log'), pre);
  details.addEventListener('toggle', () => {
    if (!details.open || details.dataset.loaded) return;
    details.dataset.loaded = '1';
    const stream = new EventSource(`${API}/executions/${enc(execution)}/stages/${enc(stage)}/actions/${enc(action)}/log${tokenQuery()}`);
    logStreams.push(stream);
    // Lines come as [{source: 'host'|'provider', text}], text escaped by
    // the server; provider lines are marked so they cannot pass for the
    // host's own.
    stream.addEventListener('log', (e) => {
      for (const line of JSON.parse(e.data)) {
        pre.append(el('span', { class: `log-line ${line.source}` }, line.text), document.createTextNode('\n'));
      }
      pre.scrollTop = pre.scrollHeight;
    });
    stream.addEventListener('end', () => { stream.close(); if (!pre.textContent) pre.textContent = '(no output)'; });
    stream.onerror = () => stream.close();
  });
  if (running) details.open = false;
  return details;
}

// Keeps open log panels open across re-renders.
function openLogs() {
  return new Set([...document.querySelectorAll('details.log-panel[open]')].map((d) => d.dataset.log));
}

async function renderExecution(id) {
  const detail = await api('GET', `/executions/${enc(id)}`);
  const e = detail.execution;
  const wasOpen = openLogs();
  closeLogStreams();
  const running = e.status === 'InProgress' || e.status === 'Stopping';
  const controls = running
    ? el('span', { class: 'controls' },
      el('button', { id: 'stop', onclick: () => act('Stop', () => api('POST', `/executions/${enc(e.id)}/stop`, { abandon: false, reason: 'stopped from the console' })) }, 'Stop'),
      el('button', { id: 'abandon', onclick: () => act('Stop and abandon', () => api('POST', `/executions/${enc(e.id)}/stop`, { abandon: true, reason: 'abandoned from the console' })) }, 'Stop and abandon'))
    : null;
  const stages = e.stages.map((stage) => {
    const retry = (stage.status === 'Failed' || stage.status === 'Stopped')
      ? el('span', { class: 'controls' },
        el('button', { class: 'small retry', onclick: () => act('Retry', () => api('POST', `/executions/${enc(e.id)}/stages/${enc(stage.name)}/retry`, { mode: 'failed_actions' })) }, 'Retry failed'),
        el('button', { class: 'small retry-all', onclick: () => act('Retry', () => api('POST', `/executions/${enc(e.id)}/stages/${enc(stage.name)}/retry`, { mode: 'all_actions' })) }, 'Retry all'))
      : null;
    return el('section', { class: `stage-detail s-${stage.status || 'None'}`, dataset: { stage: stage.name } },
      el('header', {}, el('strong', {}, stage.name), badge(stage.status || 'NotStarted'),
        stage.attempt > 1 ? el('span', { class: 'muted' }, ` attempt ${stage.attempt}`) : null, retry),
      stage.actions.map((a) => {
        const status = statusOf(a);
        const details = el('div', { class: `action-detail s-${status}`, dataset: { action: a.name, status } },
          el('div', { class: 'action-head' },
            el('span', { class: 'name' }, a.name), badge(status),
            el('span', { class: 'took' }, duration(a.started_at, a.ended_at)),
            a.attempt > 1 ? el('span', { class: 'muted' }, `attempt ${a.attempt}`) : null),
          a.summary ? el('div', { class: 'summary' }, a.summary) : null,
          a.error ? el('div', { class: 'error' }, `${a.error.kind}: ${a.error.message}`) : null,
          a.approval ? el('div', { class: 'muted' }, `${a.approval.approved ? 'approved' : 'rejected'} by ${a.approval.by}${a.approval.summary ? ': ' + a.approval.summary : ''}`) : null,
          a.variables.length ? el('table', { class: 'vars' }, a.variables.map(([k, v]) => el('tr', {}, el('td', { class: 'mono' }, k), el('td', { class: 'mono' }, v)))) : null,
          a.outputs.length ? el('div', { class: 'artifacts' }, a.outputs.map(([name, digest]) => el('div', { class: 'mono' }, `→ ${name} sha256:${digest.slice(0, 16)}`))) : null,
          a.inputs.length ? el('div', { class: 'artifacts' }, a.inputs.map(([name, digest]) => el('div', { class: 'mono muted' }, `← ${name} sha256:${digest.slice(0, 16)}`))) : null,
          status === 'WaitingForApproval' ? approvalForm(e.id, stage.name, a.name) : null,
          a.log ? logPanel(e.id, stage.name, a.name, a.running) : null);
        return details;
      }));
  });
  const artifacts = Object.values(e.artifacts || {});
  view.replaceChildren(
    el('div', { class: 'title-row' },
      el('h1', {}, 'Execution ', el('span', { class: 'mono' }, short(e.id))),
      el('span', { id: 'execution-status' }, badge(e.status)),
      el('a', { href: `#/pipelines/${enc(e.pipeline)}` }, `${e.pipeline} v${e.version}`),
      controls),
    el('dl', { class: 'facts' },
      el('dt', {}, 'Id'), el('dd', { class: 'mono' }, e.id),
      el('dt', {}, 'Trigger'), el('dd', {}, e.trigger),
      el('dt', {}, 'Started'), el('dd', {}, `${when(e.started_at)} (${duration(e.started_at, e.ended_at)})`),
      e.status_reason ? [el('dt', {}, 'Reason'), el('dd', {}, e.status_reason)] : null,
      el('dt', {}, 'Revisions'), el('dd', { class: 'mono' }, e.source_revisions.map((r) => el('div', {}, `${r.action}: ${r.revision ? r.revision.id : 'unknown (' + (r.error || '') + ')'}${r.revision && r.revision.summary ? ' — ' + r.revision.summary : ''}`))),
      Object.keys(e.variables).length ? [el('dt', {}, 'Variables'), el('dd', { class: 'mono' }, Object.entries(e.variables).map(([k, v]) => `${k}=${v}`).join(' '))] : null),
    el('div', { class: 'stage-details' }, stages),
    artifacts.length ? el('h2', {}, 'Artifacts') : null,
    artifacts.length ? el('table', { class: 'list', id: 'artifacts' },
      el('thead', {}, el('tr', {}, el('th', {}, 'Name'), el('th', {}, 'Digest'), el('th', {}, 'Files'), el('th', {}, 'Bytes'), el('th', {}, 'From'))),
      el('tbody', {}, artifacts.map((a) => el('tr', {}, el('td', {}, a.name), el('td', { class: 'mono' }, `sha256:${a.digest.slice(0, 16)}…`), el('td', { class: 'num' }, a.files), el('td', { class: 'num' }, a.bytes), el('td', {}, a.producer))))) : null);
  for (const d of document.querySelectorAll('details.log-panel')) {
    if (wasOpen.has(d.dataset.log)) d.open = true;
  }
}

connect();
route();
