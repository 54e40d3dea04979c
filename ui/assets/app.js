// The cutover dashboard. It reads and acts only through the admin API, with
// the token the user entered (kept in sessionStorage, sent as a bearer
// header), so that it and the CLI always agree.
'use strict';
(() => {
  const TOKEN_KEY = 'cutover-token';
  let token = sessionStorage.getItem(TOKEN_KEY) || '';
  let page = null; // the page shown: {name, arg, refresh(), charts}
  let refreshTimer = null;
  let stream = null; // the audit log's live stream

  const $ = (sel) => document.querySelector(sel);

  // el builds an element; attrs.text sets its text, never HTML.
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'text') e.textContent = v;
      else if (k === 'on') for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const kid of kids.flat()) if (kid !== null && kid !== undefined) e.append(kid);
    return e;
  }

  // fill replaces node's children with kids, flattened, leaving out nulls.
  function fill(node, ...kids) {
    node.replaceChildren(...kids.flat(Infinity).filter((k) => k !== null && k !== undefined && k !== false));
  }

  class Unauthorized extends Error {}

  async function api(method, path, body) {
    const res = await fetch('/api/v1' + path, {
      method,
      headers: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json', 'X-Cutover-Actor': 'dashboard' },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
    if (res.status === 401) {
      showLogin('The admin API refused the token.');
      throw new Unauthorized();
    }
    let data = {};
    try { data = await res.json(); } catch (e) { /* not JSON */ }
    return { status: res.status, ok: res.ok, data };
  }

  // --- login ---------------------------------------------------------

  function tokenFromFragment() {
    const m = location.hash.match(/[#&]token=([^&]+)/);
    if (!m) return;
    token = decodeURIComponent(m[1]);
    sessionStorage.setItem(TOKEN_KEY, token);
    history.replaceState(null, '', location.pathname + '#/overview');
  }

  function showLogin(why) {
    token = '';
    sessionStorage.removeItem(TOKEN_KEY);
    stopStream();
    clearInterval(refreshTimer);
    page = null;
    $('#view').hidden = true;
    fill($('#view'));
    $('#nav').hidden = true;
    $('#logout').hidden = true;
    $('#login').hidden = false;
    $('#login-error').textContent = why || '';
    $('#token').value = '';
    $('#token').focus();
  }

  async function login(candidate) {
    token = candidate;
    const res = await fetch('/api/v1/status', { headers: { Authorization: 'Bearer ' + token }, cache: 'no-store' });
    if (res.status !== 200) {
      showLogin(res.status === 401 ? 'Wrong token.' : 'The admin API answered ' + res.status + '.');
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    $('#login').hidden = true;
    $('#nav').hidden = false;
    $('#logout').hidden = false;
    $('#view').hidden = false;
    startStream();
    route();
    clearInterval(refreshTimer);
    refreshTimer = setInterval(() => refresh(), 2000);
  }

  // --- pages -----------------------------------------------------------

  function route() {
    const [, name = 'overview', arg = ''] = (location.hash.match(/^#\/([^/]*)\/?(.*)$/) || []);
    for (const a of document.querySelectorAll('nav a')) {
      a.toggleAttribute('aria-current', a.getAttribute('href') === location.hash);
      if (a.hasAttribute('aria-current')) a.setAttribute('aria-current', 'page');
    }
    const pages = { overview: overviewPage, rollout: rolloutPage, diffs: diffsPage, events: eventsPage };
    page = (pages[name] || overviewPage)(decodeURIComponent(arg));
    fill($('#view'), page.root);
    refresh();
  }

  let refreshing = false;
  async function refresh() {
    if (!page || refreshing) return;
    refreshing = true;
    const current = page;
    try {
      await current.refresh();
    } catch (e) {
      if (!(e instanceof Unauthorized)) console.error(e);
    } finally {
      refreshing = false;
    }
    if (page !== current) refresh(); // the page changed meanwhile: fill the new one now
  }

  function pct(v) { return (Math.round(v * 10) / 10) + '%'; }

  function splitBar(backends, field, cls) {
    const bar = el('div', { class: 'split ' + cls, role: 'img',
      'aria-label': backends.map((b) => b.name + ' ' + pct(b[field])).join(', ') });
    backends.forEach((b, i) => {
      if (b[field] <= 0) return;
      const part = el('div', { class: 'b' + Math.min(i, 2), text: b.name + ' ' + pct(b[field]) });
      part.style.width = b[field] + '%'; // through the CSSOM: the policy allows no style attribute
      bar.append(part);
    });
    return bar;
  }

  function routeCard(r) {
    return el('div', { class: 'card', 'data-route': r.name },
      el('h3', { text: 'Route ' + r.name }),
      el('p', { class: 'muted', text: (r.source === 'runtime' ? 'weights set at run time' : 'weights from the config') + (r.sticky ? ', sticky' : '') }),
      el('div', { text: 'Configured' }), splitBar(r.backends, 'weight', 'configured'),
      el('div', { text: 'Effective (after health)' }), splitBar(r.backends, 'effective', 'effective'),
      el('div', { class: 'wrap' }, el('table', {},
        el('tr', {}, el('th', { text: 'Backend' }), el('th', { text: 'Version' }), el('th', { text: 'Weight' }), el('th', { text: 'Effective' }), el('th', { text: 'Health' })),
        r.backends.map((b) => el('tr', { 'data-backend': b.name },
          el('td', { text: b.name }), el('td', { text: b.version || '' }),
          el('td', { class: 'weight', text: b.weight + '%' }), el('td', { text: pct(b.effective) }),
          el('td', { class: b.healthy ? 'good' : 'bad', text: b.healthy ? 'usable' : 'NOT USABLE' }))))));
  }

  function overviewPage() {
    const root = el('div', {}, el('h2', { text: 'Overview' }));
    const body = el('div');
    root.append(body);
    return {
      root,
      async refresh() {
        const [st, ro] = await Promise.all([api('GET', '/status'), api('GET', '/rollouts')]);
        const s = st.data;
        const lr = s.lastReload || {};
        const parts = [
          el('p', { id: 'config' }, 'Gateway ', el('strong', { text: s.gateway }), ', config generation ' + s.generation + ', ' + s.configFile + ' (' + (s.configHash || '').slice(0, 12) + ')',
            lr.time ? ', last reload ' + (lr.ok ? 'applied' : 'REFUSED') + ' at ' + new Date(lr.time).toLocaleString() : ''),
          lr.ok === false ? el('pre', { class: 'bad', id: 'reload-error', text: lr.error }) : null,
          el('h3', { text: 'Plans' }),
          (ro.data.rollouts || []).length === 0 ? el('p', { text: 'No plans in the config.' }) :
            el('ul', {}, ro.data.rollouts.map((v) => el('li', {}, el('a', { href: '#/rollout/' + encodeURIComponent(v.name), text: v.name }),
              ': ' + v.state.phase + ', step ' + v.state.step + ' of ' + v.steps.length + ', canary ' + v.canary + ' at ' + v.state.weight + '%'))),
          el('h2', { text: 'Routes' }),
          (s.routes || []).map(routeCard),
          el('h2', { text: 'Backends and endpoints' }),
          el('div', { class: 'wrap' }, el('table', {},
            el('tr', {}, el('th', { text: 'Backend' }), el('th', { text: 'Endpoint' }), el('th', { text: 'Health' }), el('th', { text: 'Active check' }), el('th', { text: 'Ejected' }), el('th', { text: 'Slow start' })),
            (s.backends || []).flatMap((b) => (b.endpoints || []).map((e) => el('tr', {},
              el('td', { text: b.name + (b.version ? ' (' + b.version + ')' : '') }), el('td', { text: e.address }),
              el('td', { class: e.healthy ? 'good' : 'bad', text: e.healthy ? 'healthy' : 'UNHEALTHY' }),
              el('td', { text: e.activeState }), el('td', { text: e.ejected ? 'EJECTED' : 'no' }),
              el('td', { text: e.slowStart >= 100 ? 'warm' : 'ramping, ' + pct(e.slowStart) })))))),
        ];
        fill(body, ...parts.flat().filter(Boolean));
        updateRolloutLinks(ro.data.rollouts || []);
      },
    };
  }

  function updateRolloutLinks(rollouts) {
    fill($('#rollout-links'), rollouts.map((v) => el('a', { href: '#/rollout/' + encodeURIComponent(v.name), text: 'Rollout ' + v.name })));
  }

  function durationText(ns) {
    const s = Math.round(ns / 1e9);
    return s >= 60 ? Math.floor(s / 60) + 'm ' + (s % 60) + 's' : s + 's';
  }

  function analysisBlock(title, run) {
    if (!run) return null;
    return el('div', { class: 'card analysis' },
      el('h3', { text: title + ': ' + run.name + ', ' + run.phase }),
      (run.metrics || []).map((m) => {
        const last = (m.measurements || [])[(m.measurements || []).length - 1];
        const figures = last && last.figures ? Object.entries(last.figures) : [];
        return el('div', {},
          el('p', {}, el('strong', { text: m.name }), ': ' + m.phase + (m.dryRun ? ' (dry run)' : '') + ', ' + m.looks + ' looks; ' +
            m.successes + ' successful, ' + m.failures + ' failed, ' + m.inconclusive + ' inconclusive, ' + m.errors + ' errors'),
          last ? el('p', { class: 'muted', text: 'Last at ' + new Date(last.at).toLocaleTimeString() + ': ' + last.phase + (last.value ? ', ' + last.value : '') + (last.message ? ', ' + last.message : '') }) : null,
          figures.length ? el('table', { class: 'figures' }, figures.map(([k, v]) => el('tr', {}, el('th', { text: k }), el('td', { text: figureText(v) })))) : null);
      }));
  }

  // figureText writes a judge's figures as "name value" pairs, nested
  // ones in parentheses, numbers to four significant digits.
  function figureText(v) {
    if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)));
    if (v === null || typeof v !== 'object') return String(v);
    return Object.entries(v).map(([k, x]) => k + ' ' + (x !== null && typeof x === 'object' ? '(' + figureText(x) + ')' : figureText(x))).join(', ');
  }

  // --- charts ------------------------------------------------------------

  // marksPlugin draws the plan's events (steps, pauses, verdicts, aborts)
  // as labelled vertical lines on the time axis.
  function marksPlugin(getMarks) {
    return {
      hooks: {
        draw: (u) => {
          const ctx = u.ctx;
          const [min, max] = [u.scales.x.min, u.scales.x.max];
          ctx.save();
          ctx.font = (11 * devicePixelRatio) + 'px system-ui, sans-serif';
          for (const m of getMarks()) {
            if (m.t < min || m.t > max) continue;
            const x = Math.round(u.valToPos(m.t, 'x', true));
            ctx.strokeStyle = m.kind === 'aborted' ? '#cf222e' : m.kind === 'verdict' ? '#8250df' : '#57606a';
            ctx.setLineDash(m.kind === 'aborted' ? [] : [4, 3]);
            ctx.lineWidth = (m.kind === 'aborted' ? 2 : 1) * devicePixelRatio;
            ctx.beginPath();
            ctx.moveTo(x, u.bbox.top);
            ctx.lineTo(x, u.bbox.top + u.bbox.height);
            ctx.stroke();
            ctx.fillStyle = '#1b1f24';
            ctx.fillText(m.label, x + 3 * devicePixelRatio, u.bbox.top + 12 * devicePixelRatio);
          }
          ctx.restore();
        },
      },
    };
  }

  function chartWidth() { return Math.max(280, Math.min(620, window.innerWidth - 60)); }

  function newChart(target, title, series, getMarks) {
    const opts = {
      title, width: chartWidth(), height: 200,
      scales: { x: { time: true } },
      series: [{}].concat(series),
      axes: [{}, { size: 60 }],
      plugins: [marksPlugin(getMarks)],
    };
    return new uPlot(opts, [[]].concat(series.map(() => [])), target);
  }

  function rolloutPage(name) {
    const root = el('div', {}, el('h2', { text: 'Rollout ' + name }));
    const head = el('div');
    const actions = el('div', { class: 'card' });
    const analysis = el('div');
    const chartsBox = el('div', { class: 'charts' });
    root.append(head, actions, analysis, el('h3', { text: 'Traffic, errors and latency by backend, last 15 minutes' }), chartsBox);
    const charts = {}; // by backend: {traffic, latency, box}
    let marks = [];
    let actionsFor = '';
    return {
      root,
      resize() {
        for (const c of Object.values(charts)) for (const u of [c.traffic, c.rate, c.latency]) u.setSize({ width: chartWidth(), height: 200 });
      },
      async refresh() {
        const r = await api('GET', '/rollouts/' + encodeURIComponent(name));
        if (!r.ok) {
          fill(head, el('p', { class: 'bad', text: r.data.error || ('answer ' + r.status) }));
          return;
        }
        const v = r.data;
        const st = v.state;
        const [status, series, events] = await Promise.all([
          api('GET', '/status'),
          api('GET', '/routes/' + encodeURIComponent(v.route) + '/series'),
          api('GET', '/events?limit=500'),
        ]);
        const rs = (status.data.routes || []).find((x) => x.name === v.route) || { backends: [] };
        fill(head,
          el('p', {}, 'Phase ', el('strong', { id: 'phase', text: st.phase }), ', step ', el('strong', { id: 'step', text: String(st.step) }), ' of ' + v.steps.length +
            ', canary ' + v.canary + ' at ', el('strong', { id: 'weight', text: st.weight + '%' }), ', stable ' + v.stable + ', router ' + v.router),
          st.reason ? el('p', { id: 'reason', text: 'Why: ' + st.reason }) : null,
          st.phase === 'Paused' && v.pauseLeft > 0 ? el('p', { id: 'pause-left', text: 'Pause: ' + durationText(v.pauseLeft) + ' left' }) : null,
          v.decommissionFrom ? el('p', { text: 'The stable side may be decommissioned from ' + new Date(v.decommissionFrom).toLocaleString() + '.' }) : null,
          routeCard(rs),
          el('p', { text: 'Header routes: ' + ((v.headerRoutes || []).join(', ') || 'none') + '; mirror routes: ' + ((v.mirrorRoutes || []).join(', ') || 'none') }),
          el('h3', { text: 'Steps' }),
          el('ol', { class: 'steps', start: '0' }, v.steps.map((s) => el('li', { class: s.status, 'data-step': s.index },
            (s.status === 'current' ? '▶ current: ' : s.status === 'done' ? '✓ done: ' : '') + s.text))));
        fill(analysis, ...[analysisBlock('Step analysis', st.analysis), analysisBlock('Background analysis', st.background)].filter(Boolean));
        const key = v.route + '|' + rs.backends.map((b) => b.name).join(',') + '|' + v.steps.length;
        if (actionsFor !== key) {
          actionsFor = key;
          fill(actions, ...actionButtons(v, rs));
        }
        for (const b of rs.backends) { // the weights as they are now, unless being edited
          const input = actions.querySelector('[data-weight="' + CSS.escape(b.name) + '"]');
          if (input && document.activeElement !== input) input.value = b.weight;
        }
        marks = (events.data.events || [])
          .filter((e) => e.target === name && e.action.startsWith('rollout.'))
          .map((e) => ({ t: Date.parse(e.time) / 1000, kind: e.action.slice(8), label: markLabel(e) }));
        // The running analyses' decided measurements: each verdict as it came.
        for (const run of [st.analysis, st.background]) {
          for (const m of (run && run.metrics) || []) {
            for (const x of m.measurements || []) {
              if (['Successful', 'Failed', 'Inconclusive'].includes(x.phase)) {
                marks.push({ t: Date.parse(x.at) / 1000, kind: 'verdict', label: m.name + ' ' + x.phase });
              }
            }
          }
        }
        drawCharts(series.data.backends || []);
      },
    };

    function drawCharts(backends) {
      // The window starts at the first second with traffic (at most 15
      // minutes back, at least one minute), so that a young gateway's
      // chart is not mostly empty.
      let first = Infinity;
      for (const b of backends) {
        const i = b.seconds.requests.findIndex((n) => n > 0);
        if (i >= 0) first = Math.min(first, i);
      }
      const n = backends.length ? backends[0].seconds.t.length : 0;
      const from = first === Infinity ? 0 : Math.max(0, Math.min(first - 5, n - 60));
      for (const b of backends) {
        for (const k of ['t', 'requests', 'errors', 'p50', 'p99']) b.seconds[k] = b.seconds[k].slice(from);
      }
      for (const b of backends) {
        let c = charts[b.backend];
        if (!c) {
          const box = el('div', { class: 'chart', 'data-backend': b.backend }, el('h4', { text: b.backend + (b.version ? ' (' + b.version + ')' : '') }));
          chartsBox.append(box);
          c = charts[b.backend] = {
            box,
            traffic: newChart(box, 'requests/s and 5xx/s', [{ label: 'requests/s', stroke: '#0969da', width: 2 }, { label: '5xx/s', stroke: '#cf222e', width: 2, dash: [6, 3] }], () => marks),
            rate: newChart(box, 'error rate %', [{ label: '5xx %', stroke: '#cf222e', width: 2 }], () => marks),
            latency: newChart(box, 'latency ms', [{ label: 'p50', stroke: '#1a7f37', width: 2 }, { label: 'p99', stroke: '#8250df', width: 2, dash: [6, 3] }], () => marks),
          };
        }
        const s = b.seconds;
        const ms = (xs) => xs.map((x) => (x === null ? null : x * 1000));
        const rate = s.requests.map((n, i) => (n > 0 ? (100 * s.errors[i]) / n : null));
        c.traffic.setData([s.t, s.requests, s.errors]);
        c.rate.setData([s.t, rate]);
        c.latency.setData([s.t, ms(s.p50), ms(s.p99)]);
        c.box.setAttribute('data-requests', String(s.requests.reduce((a, n) => a + n, 0)));
        c.box.setAttribute('data-marks', marks.map((m) => m.label).join('|'));
      }
      for (const name of Object.keys(charts)) {
        if (!backends.some((b) => b.backend === name)) {
          charts[name].box.remove();
          delete charts[name];
        }
      }
    }
  }

  // markLabel names a plan event on the time axis; the verdict that moved
  // the plan is in its reason.
  function markLabel(e) {
    const kind = e.action.slice('rollout.'.length);
    // The state after, "Paused step 1 weight 20: ..." (or on Kubernetes
    // the Event's note, "... canary weight 20: ...").
    const w = String(e.after || e.reason || '').match(/weight (\d+)/);
    const reason = e.reason || '';
    let verdict = '';
    if (reason.includes('analysis passed')) verdict = ' (analysis passed)';
    else if (reason.includes('analysis failed')) verdict = ' (analysis failed)';
    else if (reason.includes('inconclusive')) verdict = ' (inconclusive)';
    return kind + (w ? ' ' + w[1] + '%' : '') + verdict;
  }

  // --- actions -----------------------------------------------------------

  function actionButtons(v, rs) {
    const cmd = (label, command, body, cls) => el('button', { type: 'button', class: cls, 'data-action': command + (body && body.full ? '-full' : ''),
      on: { click: () => act(label + ' ' + v.name + '?', 'POST', '/rollouts/' + encodeURIComponent(v.name) + '/' + command, body || {}) } }, label);
    const stepSel = el('select', { id: 'rollback-step', 'aria-label': 'Step to roll back to' },
      v.steps.map((s) => el('option', { value: s.index, text: s.index + ': ' + s.text })));
    const weights = rs.backends.map((b) => el('label', {}, b.name + ' ', el('input', { type: 'number', min: 0, max: 100, value: b.weight, 'data-weight': b.name })));
    return [
      el('h3', { text: 'Actions' }),
      el('div', { class: 'actions' },
        cmd('Promote', 'promote'), cmd('Promote fully', 'promote', { full: true }), cmd('Abort', 'abort', {}, 'danger'),
        cmd('Pause', 'pause'), cmd('Resume', 'resume'), cmd('Retry', 'retry')),
      el('div', { class: 'actions' }, stepSel, el('button', { type: 'button', 'data-action': 'rollback',
        on: { click: () => act('Roll ' + v.name + ' back to step ' + stepSel.value + '?', 'POST', '/rollouts/' + encodeURIComponent(v.name) + '/rollback', { toStep: Number(stepSel.value) }) } }, 'Roll back to step')),
      el('div', { class: 'actions' }, weights, el('button', { type: 'button', 'data-action': 'weights',
        on: { click: () => {
          const w = {};
          for (const i of document.querySelectorAll('[data-weight]')) w[i.getAttribute('data-weight')] = Number(i.value);
          act('Set the weights of route ' + rs.name + ' to ' + Object.entries(w).map(([k, n]) => k + ' ' + n + '%').join(', ') + '? A running plan sets them again at its next step.',
            'PUT', '/routes/' + encodeURIComponent(rs.name) + '/weights', { weights: w });
        } } }, 'Set weights')),
    ];
  }

  // act asks for confirmation, calls the API and shows its answer.
  async function act(question, method, path, body) {
    const dlg = $('#confirm');
    $('#confirm-text').textContent = question;
    $('#confirm-reason').value = '';
    dlg.returnValue = '';
    dlg.showModal();
    const choice = await new Promise((resolve) => dlg.addEventListener('close', () => resolve(dlg.returnValue), { once: true }));
    if (choice !== 'ok') return;
    const reason = $('#confirm-reason').value.trim();
    if (reason) body.reason = reason;
    const res = await api(method, path, body);
    const box = $('#answer');
    box.hidden = false;
    box.className = res.ok ? '' : 'error';
    box.setAttribute('data-status', String(res.status));
    box.textContent = res.ok
      ? 'Done (' + res.status + ')' + (res.data.state ? ': ' + res.data.state.phase + ', step ' + res.data.state.step + ', canary at ' + res.data.state.weight + '%' : '')
      : 'Refused (' + res.status + '): ' + (res.data.error || 'no reason given');
    refresh();
  }

  // --- mirror diffs --------------------------------------------------------

  function diffsPage() {
    const root = el('div', {}, el('h2', { text: 'Mirror diffs' }));
    const body = el('div');
    root.append(body);
    return {
      root,
      async refresh() {
        const st = await api('GET', '/status');
        const all = await Promise.all((st.data.routes || []).map((r) => api('GET', '/routes/' + encodeURIComponent(r.name) + '/diffs')));
        const parts = [];
        for (const d of all) {
          const diffs = d.data.diffs || [];
          if (diffs.length === 0) continue;
          parts.push(el('h3', { text: 'Route ' + d.data.route + ': ' + diffs.length + ' differing pairs kept' }));
          for (const x of diffs.slice().reverse()) {
            parts.push(el('div', { class: 'card diff' },
              el('p', { text: new Date(x.time).toLocaleString() + ' ' + x.method + ' ' + x.path + ': differs in ' + x.kind }),
              (x.differentHeaders || []).length ? el('p', { text: 'Headers that differ: ' + x.differentHeaders.join(', ') }) : null,
              el('div', { class: 'sides' }, side('Primary', x.primaryStatus, x.primaryHeaders, x.primaryBodySha256, x.primaryBody, x.differentHeaders),
                side('Shadow', x.shadowStatus, x.shadowHeaders, x.shadowBodySha256, x.shadowBody, x.differentHeaders))));
          }
        }
        fill(body, ...(parts.length ? parts : [el('p', { text: 'No differing pairs kept. Routes with a mirror that compares answers keep them here.' })]));
      },
    };
  }

  // side is one answer of a mirrored pair; differing headers are marked
  // with "≠" as well as in bold.
  function side(title, status, headers, sha, body, differing) {
    const names = Object.keys(headers || {}).sort();
    return el('div', { class: 'side' },
      el('strong', { text: title + ': status ' + status }),
      el('table', {}, names.map((k) => {
        const diff = (differing || []).includes(k);
        return el('tr', { class: diff ? 'bad' : null }, el('th', { text: (diff ? '≠ ' : '') + k }), el('td', { text: headers[k].join(', ') }));
      })),
      el('p', { class: 'muted', text: 'body sha256 ' + (sha || '').slice(0, 16) + '…' }),
      el('pre', { text: body || '' }));
  }

  // --- events ----------------------------------------------------------------

  let events = [];
  function eventsPage() {
    const root = el('div', {}, el('h2', { text: 'Events (audit log, live)' }));
    const table = el('table', { id: 'events' });
    root.append(el('div', { class: 'wrap' }, table));
    return {
      root,
      async refresh() {
        if (events.length === 0) {
          const r = await api('GET', '/events?limit=200');
          events = r.data.events || [];
        }
        fill(table, 
          el('tr', {}, el('th', { text: 'Time' }), el('th', { text: 'Actor' }), el('th', { text: 'Action' }), el('th', { text: 'Target' }), el('th', { text: 'Reason' })),
          events.slice().reverse().map((e) => el('tr', { 'data-seq': e.seq },
            el('td', { text: new Date(e.time).toLocaleString() }), el('td', { text: e.actor }), el('td', { text: e.action }),
            el('td', { text: e.target || '' }), el('td', { text: e.reason || '' }))));
      },
    };
  }

  // The audit log as Server-Sent Events, read with fetch so that the token
  // goes in a header (EventSource cannot send one). Every event refreshes
  // the page shown.
  async function startStream() {
    stopStream();
    const ctl = new AbortController();
    stream = ctl;
    try {
      const res = await fetch('/api/v1/events?follow=1&limit=200', { headers: { Authorization: 'Bearer ' + token }, signal: ctl.signal });
      if (!res.ok) return;
      const reader = res.body.getReader();
      const dec = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const chunk = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = chunk.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
          if (!data) continue;
          const ev = JSON.parse(data);
          if (!events.some((e) => e.seq === ev.seq)) events.push(ev);
          if (events.length > 1000) events = events.slice(-1000);
          refresh();
        }
      }
    } catch (e) {
      if (e.name !== 'AbortError') console.error(e);
    }
    if (stream === ctl && token) setTimeout(startStream, 2000); // the stream ended: take it up again
  }

  function stopStream() {
    if (stream) stream.abort();
    stream = null;
  }

  // --- start -----------------------------------------------------------------

  $('#login-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    login($('#token').value.trim());
  });
  $('#logout').addEventListener('click', () => showLogin(''));
  window.addEventListener('hashchange', () => {
    if (/[#&]token=/.test(location.hash)) {
      tokenFromFragment();
      login(token);
    } else if (token) route();
  });
  window.addEventListener('resize', () => { if (page && page.resize) page.resize(); });
  tokenFromFragment();
  if (token) login(token);
  else showLogin('');
})();
