/* Gyre admin interface: login, cluster status and a console for server API methods.
 * Plain browser JavaScript, no build step. All endpoint URLs are relative to this page, so the UI
 * works under any `admin.handler_prefix`. */
/* global window, document, fetch, localStorage, URLSearchParams, setTimeout, clearTimeout */
(function () {
  'use strict';

  const TOKEN_KEY = 'gyre-admin-token';
  const STATUS_INTERVAL_MS = 3000;

  /** Params shown when a method is picked in the actions console. */
  const TEMPLATES = {
    publish: { channel: 'news', data: { text: 'hello from the admin console' } },
    broadcast: { channels: ['news', 'alerts'], data: { text: 'hello everyone' } },
    presence: { channel: 'news' },
    presence_stats: { channel: 'news' },
    history: { channel: 'news', limit: 10, reverse: true },
    history_remove: { channel: 'news' },
    subscribe: { user: '42', channel: 'news' },
    unsubscribe: { user: '42', channel: 'news' },
    disconnect: { user: '42' },
    refresh: { user: '42', expired: true },
    channels: { pattern: '*' },
    info: {},
    batch: {
      commands: [
        { publish: { channel: 'news', data: { n: 1 } } },
        { publish: { channel: 'news', data: { n: 2 } } },
      ],
      parallel: false,
    },
  };

  const $ = (id) => document.getElementById(id);

  const state = {
    token: localStorage.getItem(TOKEN_KEY) || '',
    insecure: false,
    statusTimer: undefined,
    statusSeq: 0,
    edits: {},
  };

  class AuthError extends Error {}

  function show(el, visible) {
    el.hidden = !visible;
  }

  function setMessage(el, text, kind) {
    el.textContent = text;
    el.className = 'message' + (kind ? ' ' + kind : '');
    show(el, text !== '');
  }

  function authHeaders() {
    return state.token && !state.insecure ? { Authorization: 'token ' + state.token } : {};
  }

  /** Runs one server API method through the admin endpoint; resolves with `{result}` or `{error}`. */
  async function command(method, params) {
    const res = await fetch('admin/api', {
      method: 'POST',
      headers: Object.assign({ 'Content-Type': 'application/json' }, authHeaders()),
      body: JSON.stringify({ method: method, params: params }),
    });
    if (res.status === 401) throw new AuthError('unauthorized');
    if (!res.ok) throw new Error('HTTP ' + res.status + ' ' + res.statusText);
    return res.json();
  }

  // ---- login / logout ----

  function showLogin(message) {
    stopStatus();
    show($('boot'), false);
    show($('main-view'), false);
    show($('login-view'), true);
    setMessage($('login-error'), message || '', message ? 'error' : '');
    $('password').value = '';
    $('password').focus();
  }

  async function login(event) {
    event.preventDefault();
    const button = $('login-button');
    button.disabled = true;
    setMessage($('login-error'), '', '');
    try {
      const res = await fetch('admin/auth', {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ password: $('password').value }).toString(),
      });
      if (res.ok) {
        const body = await res.json();
        state.token = body.token;
        localStorage.setItem(TOKEN_KEY, state.token);
        showMain();
      } else if (res.status === 400) {
        setMessage($('login-error'), 'Wrong password.', 'error');
        $('password').select();
      } else {
        setMessage($('login-error'), 'Login failed: HTTP ' + res.status + '.', 'error');
      }
    } catch (err) {
      setMessage($('login-error'), 'Cannot reach the server: ' + err.message, 'error');
    } finally {
      button.disabled = false;
    }
  }

  function logout(message) {
    state.token = '';
    localStorage.removeItem(TOKEN_KEY);
    showLogin(typeof message === 'string' ? message : '');
  }

  function onAuthError(err) {
    if (err instanceof AuthError && !state.insecure) {
      logout('Your session has expired. Please log in again.');
      return true;
    }
    return false;
  }

  // ---- pages ----

  function currentPage() {
    return window.location.hash === '#/actions' ? 'actions' : 'status';
  }

  function showMain() {
    show($('boot'), false);
    show($('login-view'), false);
    show($('main-view'), true);
    show($('logout'), !state.insecure);
    show($('insecure-badge'), state.insecure);
    route();
  }

  function route() {
    if ($('main-view').hidden) return;
    const page = currentPage();
    for (const link of document.querySelectorAll('nav a')) {
      link.classList.toggle('active', link.dataset.page === page);
    }
    show($('status-page'), page === 'status');
    show($('actions-page'), page === 'actions');
    if (page === 'status') startStatus();
    else stopStatus();
  }

  // ---- status ----

  function startStatus() {
    stopStatus();
    void refreshStatus();
  }

  function stopStatus() {
    if (state.statusTimer !== undefined) clearTimeout(state.statusTimer);
    state.statusTimer = undefined;
    state.statusSeq++;
  }

  async function refreshStatus() {
    const seq = state.statusSeq;
    try {
      const reply = await command('info', {});
      if (seq !== state.statusSeq) return;
      if (reply.error) {
        setMessage($('status-error'), 'info failed: ' + formatError(reply.error), 'error');
      } else {
        setMessage($('status-error'), '', '');
        renderNodes((reply.result && reply.result.nodes) || []);
        $('status-updated').textContent = 'Updated ' + new Date().toLocaleTimeString();
      }
    } catch (err) {
      if (seq !== state.statusSeq) return;
      if (onAuthError(err)) return;
      setMessage($('status-error'), 'Cannot load status: ' + err.message, 'error');
    }
    if (seq === state.statusSeq) {
      state.statusTimer = setTimeout(() => void refreshStatus(), STATUS_INTERVAL_MS);
    }
  }

  function num(v) {
    return typeof v === 'number' ? v : 0;
  }

  function formatUptime(seconds) {
    let s = Math.floor(num(seconds));
    const d = Math.floor(s / 86400);
    s -= d * 86400;
    const h = Math.floor(s / 3600);
    s -= h * 3600;
    const m = Math.floor(s / 60);
    s -= m * 60;
    if (d > 0) return d + 'd ' + h + 'h ' + m + 'm';
    if (h > 0) return h + 'h ' + m + 'm ' + s + 's';
    if (m > 0) return m + 'm ' + s + 's';
    return s + 's';
  }

  function cell(row, text, cls) {
    const td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    row.appendChild(td);
  }

  function renderNodes(nodes) {
    const sorted = nodes.slice().sort((a, b) => String(a.name).localeCompare(String(b.name)));
    const body = $('nodes');
    body.replaceChildren();
    const totals = { clients: 0, users: 0, subs: 0, channels: 0 };
    for (const n of sorted) {
      const tr = document.createElement('tr');
      tr.dataset.uid = n.uid || '';
      cell(tr, n.name || n.uid || '?', 'name');
      cell(tr, n.version || '', '');
      cell(tr, formatUptime(n.uptime), '');
      cell(tr, String(num(n.num_clients)), 'num');
      cell(tr, String(num(n.num_users)), 'num');
      cell(tr, String(num(n.num_subs)), 'num');
      cell(tr, String(num(n.num_channels)), 'num');
      body.appendChild(tr);
      totals.clients += num(n.num_clients);
      totals.users += num(n.num_users);
      totals.subs += num(n.num_subs);
      totals.channels += num(n.num_channels);
    }
    if (sorted.length === 0) {
      const tr = document.createElement('tr');
      cell(tr, 'No nodes reported.', 'muted');
      tr.firstChild.colSpan = 7;
      body.appendChild(tr);
    }
    $('total-nodes').textContent = String(sorted.length);
    $('total-clients').textContent = String(totals.clients);
    $('total-users').textContent = String(totals.users);
    $('total-subs').textContent = String(totals.subs);
    $('total-channels').textContent = String(totals.channels);
  }

  // ---- actions console ----

  function formatError(e) {
    return (e.code !== undefined ? e.code + ' ' : '') + (e.message || 'error');
  }

  function template(method) {
    return JSON.stringify(TEMPLATES[method] || {}, null, 2);
  }

  function initActions() {
    const select = $('method');
    for (const name of Object.keys(TEMPLATES)) {
      const opt = document.createElement('option');
      opt.value = name;
      opt.textContent = name;
      select.appendChild(opt);
    }
    select.value = 'publish';
    $('params').value = template('publish');
    select.addEventListener('change', () => {
      $('params').value = state.edits[select.value] || template(select.value);
    });
    $('params').addEventListener('input', () => {
      state.edits[select.value] = $('params').value;
    });
    $('params').addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        $('action-form').requestSubmit();
      }
    });
    $('reset-params').addEventListener('click', () => {
      delete state.edits[select.value];
      $('params').value = template(select.value);
    });
    $('action-form').addEventListener('submit', (e) => {
      e.preventDefault();
      void runAction();
    });
  }

  function showOutput(status, kind, body) {
    show($('action-output'), true);
    setMessage($('action-status'), status, kind);
    $('action-result').textContent = body;
    show($('action-result'), body !== '');
  }

  async function runAction() {
    const method = $('method').value;
    const text = $('params').value.trim();
    let params = {};
    if (text !== '') {
      try {
        params = JSON.parse(text);
      } catch (err) {
        showOutput('Params are not valid JSON: ' + err.message, 'error', '');
        return;
      }
      if (params === null || typeof params !== 'object' || Array.isArray(params)) {
        showOutput('Params must be a JSON object.', 'error', '');
        return;
      }
    }
    const run = $('run');
    run.disabled = true;
    const started = Date.now();
    try {
      const reply = await command(method, params);
      const took = Date.now() - started + ' ms';
      if (reply.error) {
        showOutput(method + ' failed: ' + formatError(reply.error) + ' (' + took + ')', 'error', '');
      } else {
        showOutput(method + ' succeeded (' + took + ')', 'ok', JSON.stringify(reply.result || {}, null, 2));
      }
    } catch (err) {
      if (!onAuthError(err)) showOutput('Request failed: ' + err.message, 'error', '');
    } finally {
      run.disabled = false;
    }
  }

  // ---- start ----

  async function boot() {
    $('login-form').addEventListener('submit', login);
    $('logout').addEventListener('click', () => logout(''));
    window.addEventListener('hashchange', route);
    initActions();
    try {
      const res = await fetch('admin/settings', { headers: authHeaders() });
      if (!res.ok) throw new Error('HTTP ' + res.status);
      const settings = await res.json();
      state.insecure = settings.insecure === true;
      if (state.insecure || (state.token !== '' && settings.authenticated === true)) showMain();
      else if (state.token !== '') logout('Your session has expired. Please log in again.');
      else showLogin('');
    } catch (err) {
      show($('boot'), true);
      $('boot').textContent = 'Cannot reach the server: ' + err.message;
      $('boot').className = 'boot message error';
    }
  }

  void boot();
})();
