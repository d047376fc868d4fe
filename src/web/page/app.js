// The live page of nettrace --serve and netgraph --serve. Draws the view
// (src/web/view.cpp: nodes, edges, per-process details) that arrives as
// Server-Sent Events on /api/view/stream: the first event is the whole view,
// and each later one the whole view again when something changed.
//
// Positions are the page's own and never move: a node gets its place the
// first time it is seen (a column by host and role, the next free row) and
// keeps it for as long as the page is open, so nothing jumps when one is added.
//
// Every name comes from processes (or their owners) and is hostile until
// proven otherwise: text reaches the document only through textContent and
// setAttribute, never as markup (the server's Content-Security-Policy also
// refuses any script but this file).
'use strict';

(() => {
  const SVG = 'http://www.w3.org/2000/svg';
  const NODE_W = 200, NODE_H = 40, ROW = 56, COL = 370, HOST_GAP = 70, PAD = 26;

  const page = {
    view: null,          // the last view received
    updates: 0,          // views applied since the page loaded
    filter: '',
    selected: null,      // node id whose details are shown
    pos: new Map(),      // node id -> {x, y}: never changed once set
    domId: new Map(),    // node id -> small number for data-n attributes
    seen: new Map(),     // node id -> time first seen (ms), for the "new" mark
    gone: new Map(),     // host + label -> position of a node that went (reused by its successor)
    columns: new Map(),  // column key -> {x, rows}
    hostX: new Map(),    // host -> x of its first column
    nextX: 0,            // where the next host (or the outside column) goes
    fitted: false,
  };
  // The page's own state, for the tests (tests/web) and for anyone curious.
  window.ntPage = page;
  page.snapshot = () => snapshot();

  const $ = (id) => document.getElementById(id);

  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function html(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // ---- words ----------------------------------------------------------
  function bytes(n) {
    if (n === undefined || n === null) return '—';
    const units = ['B', 'kB', 'MB', 'GB', 'TB'];
    let i = 0, v = n;
    while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
    return (i === 0 ? String(v) : v.toPrecision(3)) + ' ' + units[i];
  }
  function duration(ns) {
    const s = ns / 1e9;
    if (s < 1) return Math.round(ns / 1e6) + ' ms';
    if (s < 120) return s.toFixed(s < 10 ? 1 : 0) + ' s';
    if (s < 7200) return Math.round(s / 60) + ' min';
    if (s < 172800) return Math.round(s / 3600) + ' h';
    return Math.round(s / 86400) + ' d';
  }
  function clock(ns) {
    return new Date(ns / 1e6).toLocaleString();
  }
  function short(text, max) {
    return text.length > max ? text.slice(0, max - 1) + '…' : text;
  }

  // ---- layout ---------------------------------------------------------
  function idOf(id) {
    if (!page.domId.has(id)) page.domId.set(id, page.domId.size + 1);
    return page.domId.get(id);
  }
  function column(key, x) {
    if (!page.columns.has(key)) page.columns.set(key, { key, x, rows: 0, free: [] });
    return page.columns.get(key);
  }
  // A host's two columns (its clients, its servers), right of what is there.
  function hostX(host) {
    if (!page.hostX.has(host)) {
      page.hostX.set(host, page.nextX);
      page.nextX += 2 * COL + HOST_GAP;
    }
    return page.hostX.get(host);
  }
  // A node's place: where a node of its name on its host just went (a
  // process that became a group of them, a restarted server), else the
  // highest free row of its column (rows of nodes gone are taken again, so
  // a column does not grow with churn), else a new row at its bottom.
  function place(n, servers) {
    const reuse = page.gone.get(n.host + '\n' + n.label);
    if (reuse) {
      page.gone.delete(n.host + '\n' + n.label);
      const c = page.columns.get(reuse.col);
      c.free = c.free.filter((y) => y !== reuse.y);
      return reuse;
    }
    let col;
    if (n.kind === 'outside') {
      // Outside peers: the ones this host connects to in a column of their
      // own right of the hosts seen so far; the ones that connect in, left.
      if (servers.has(n.id)) {
        if (!page.columns.has('out:servers')) { column('out:servers', page.nextX); page.nextX += COL + HOST_GAP; }
        col = column('out:servers');
      } else {
        col = column('out:clients', -COL - HOST_GAP);
      }
    } else {
      const x = hostX(n.host);
      col = servers.has(n.id) ? column(n.host + '\nservers', x + COL) : column(n.host + '\nclients', x);
    }
    if (col.free.length) {
      col.free.sort((a, b) => a - b);
      const y = col.free.shift();
      for (const [k, g] of page.gone) if (g.col === col.key && g.y === y) page.gone.delete(k);
      return { x: col.x, y, col: col.key };
    }
    const p = { x: col.x, y: col.rows * ROW, col: col.key };
    col.rows++;
    return p;
  }
  function layout(view) {
    const servers = new Set(view.edges.map((e) => e.to));
    const now = Date.now();
    const ids = new Set(view.nodes.map((n) => n.id));
    const before = new Map(page.view ? page.view.nodes.map((n) => [n.id, n]) : []);
    for (const [id, p] of page.pos) {
      if (!ids.has(id)) {
        const old = before.get(id);
        if (old) page.gone.set(old.host + '\n' + old.label, p);
        page.columns.get(p.col).free.push(p.y);
        page.pos.delete(id);
        page.seen.delete(id);
      }
    }
    for (const n of view.nodes) {
      if (!page.pos.has(n.id)) {
        page.pos.set(n.id, place(n, servers));
        if (page.updates > 0) page.seen.set(n.id, now);
      }
    }
  }

  // ---- the filter -----------------------------------------------------
  function nodeText(n) {
    const parts = [n.label, n.sublabel, n.name, n.comm, n.exe, n.cmdline, n.container, n.pod, n.unit,
      n.host, n.pid, ...(n.pids || []), ...(n.addresses || [])];
    for (const c of n.connections || []) parts.push(c.local, c.remote);
    return parts.filter((p) => p !== undefined && p !== null).join('\n').toLowerCase();
  }
  // What the box holds decides what shows: a port (":443" or "443") shows
  // the edges to that port and their ends; any other text, the processes
  // and peers whose names, identity, pids or addresses contain it, with
  // their edges and the nodes at their other ends.
  function visibility(view) {
    const q = page.filter.trim().toLowerCase();
    const nodes = new Map(), edges = new Map();
    if (!q) {
      for (const n of view.nodes) nodes.set(n.id, true);
      view.edges.forEach((e, i) => edges.set(i, true));
      return { nodes, edges };
    }
    const port = /^:?(\d{1,5})$/.exec(q);
    const match = new Map(view.nodes.map((n) => [n.id, !port && nodeText(n).includes(q)]));
    view.edges.forEach((e, i) => {
      const on = port ? e.port === Number(port[1]) : match.get(e.from) || match.get(e.to);
      edges.set(i, on);
      if (on) { nodes.set(e.from, true); nodes.set(e.to, true); }
    });
    for (const n of view.nodes) {
      if (!nodes.has(n.id)) nodes.set(n.id, !!match.get(n.id) || (port && String(n.pid) === port[1]));
    }
    return { nodes, edges };
  }

  // ---- drawing --------------------------------------------------------
  function edgeWidth(e) {
    const traffic = e.bytes_to_server + e.bytes_to_client;
    const w = traffic > 0 ? 1 + Math.log10(1 + traffic) / 1.2 : 1 + Math.log2(e.count) * 0.7;
    return Math.min(10, Math.max(1.2, w));
  }
  function curve(a, b) {
    const ay = a.y + NODE_H / 2, by = b.y + NODE_H / 2;
    let x1, x2, c1, c2;
    if (b.x > a.x) { x1 = a.x + NODE_W; x2 = b.x; }
    else if (b.x < a.x) { x1 = a.x; x2 = b.x + NODE_W; }
    else { x1 = a.x + NODE_W; x2 = b.x + NODE_W; } // same column: a loop on the right
    const bend = b.x === a.x ? 60 + Math.abs(by - ay) / 4 : Math.max(40, Math.abs(x2 - x1) / 2);
    c1 = x1 + (b.x >= a.x ? bend : -bend);
    c2 = x2 + (b.x > a.x ? -bend : bend);
    const mid = {
      x: 0.125 * x1 + 0.375 * c1 + 0.375 * c2 + 0.125 * x2,
      y: 0.5 * ay + 0.5 * by,
    };
    return { d: `M${x1},${ay} C${c1},${ay} ${c2},${by} ${x2},${by}`, mid };
  }
  function describe(n) {
    const lines = [n.label];
    if (n.sublabel) lines.push(n.sublabel);
    if (n.host) lines.push('host ' + n.host);
    if (n.exe) lines.push(n.exe);
    return lines.join('\n');
  }
  function draw(view, vis) {
    const hostsLayer = $('hosts-layer'), edgesLayer = $('edges-layer'), nodesLayer = $('nodes-layer');
    hostsLayer.replaceChildren(); edgesLayer.replaceChildren(); nodesLayer.replaceChildren();
    const byId = new Map(view.nodes.map((n) => [n.id, n]));
    // Host boxes: around the host's columns, as tall as its longest one.
    for (const [host, x] of page.hostX) {
      if (!view.hosts.includes(host) && !view.nodes.some((n) => n.host === host)) continue;
      const rows = Math.max(1, ...[host + '\nclients', host + '\nservers'].map((k) => (page.columns.get(k) || { rows: 0 }).rows));
      const g = svg('g', { class: 'hostbox' });
      g.append(svg('rect', { x: x - PAD, y: -PAD - 22, width: 2 * COL - (COL - NODE_W) + 2 * PAD, height: rows * ROW + 2 * PAD + 10, rx: 10 }));
      g.append(svg('text', { x: x - PAD + 10, y: -PAD - 6 }, host ? 'host ' + host : 'this host'));
      hostsLayer.append(g);
    }
    const now = Date.now();
    view.edges.forEach((e, i) => {
      const a = page.pos.get(e.from), b = page.pos.get(e.to);
      if (!a || !b) return;
      const from = byId.get(e.from), to = byId.get(e.to);
      const outside = from.kind === 'outside' || to.kind === 'outside';
      const g = svg('g', { class: 'edge' + (outside ? ' outside' : '') + (e.open > 0 ? ' open' : '') + (vis.edges.get(i) ? '' : ' hidden'),
        'data-from': idOf(e.from), 'data-to': idOf(e.to), 'data-port': e.port });
      const c = curve(a, b);
      g.append(svg('path', { d: c.d, 'stroke-width': edgeWidth(e).toFixed(2), 'marker-end': 'url(#arrow)' }));
      let words = `:${e.port} ×${e.count}`;
      if (e.open > 0) words += ` · ${e.open} open`;
      const traffic = e.bytes_to_server + e.bytes_to_client;
      if (traffic > 0) words += ` · ${bytes(traffic)}`;
      g.append(svg('text', { x: c.mid.x, y: c.mid.y - 4, 'text-anchor': 'middle' }, words));
      g.append(svg('title', {}, `${from.label} → ${to.label} ${e.words}` +
        (traffic > 0 ? `\n${bytes(e.bytes_to_server)} to the server, ${bytes(e.bytes_to_client)} back` : '')));
      edgesLayer.append(g);
    });
    for (const n of view.nodes) {
      const p = page.pos.get(n.id);
      const fresh = page.seen.has(n.id) && now - page.seen.get(n.id) < 5000;
      const g = svg('g', {
        class: `node ${n.kind}` + (page.selected === n.id ? ' selected' : '') + (fresh ? ' fresh' : '') + (vis.nodes.get(n.id) ? '' : ' hidden'),
        transform: `translate(${p.x},${p.y})`, 'data-n': idOf(n.id), tabindex: 0, role: 'button',
      });
      g.append(svg('rect', { width: NODE_W, height: NODE_H, rx: 6 }));
      g.append(svg('text', { x: 8, y: 16, class: 'label' }, short(n.label, 28)));
      g.append(svg('text', { x: 8, y: 32, class: 'sub' }, short(n.sublabel || '', 34)));
      g.append(svg('title', {}, describe(n)));
      g.addEventListener('click', (ev) => { ev.stopPropagation(); select(n.id); });
      g.addEventListener('keydown', (ev) => { if (ev.key === 'Enter' || ev.key === ' ') select(n.id); });
      nodesLayer.append(g);
    }
  }

  // ---- the text view --------------------------------------------------
  function table(view, vis) {
    const body = $('table').tBodies[0];
    body.replaceChildren();
    const byId = new Map(view.nodes.map((n) => [n.id, n]));
    // Each node's edges, in one pass (not one pass per node: thousands of
    // both on a busy host).
    const edgesOf = new Map();
    view.edges.forEach((e, i) => {
      for (const id of e.from === e.to ? [e.from] : [e.from, e.to]) {
        if (!edgesOf.has(id)) edgesOf.set(id, []);
        edgesOf.get(id).push([e, i]);
      }
    });
    for (const n of view.nodes) {
      if (n.kind === 'outside') continue;
      const mine = edgesOf.get(n.id) || [];
      const row = html('tr', { class: 'proc' + (vis.nodes.get(n.id) ? '' : ' hidden'), 'data-n': idOf(n.id) });
      const name = html('td', { class: 'name' }, n.label);
      const who = [n.exe, n.container && 'container ' + n.container, n.pod && 'pod ' + n.pod, n.unit].filter((x) => x).join(' · ');
      row.append(name, html('td', {}, n.host || ''), html('td', {}, n.pid !== undefined ? String(n.pid) : (n.pids || []).join(' ')),
        html('td', { colspan: 6 }, who || (n.kind === 'group' ? n.sublabel : '')));
      row.addEventListener('click', () => select(n.id));
      body.append(row);
      for (const [e, i] of mine) {
        const out = e.from === n.id;
        const peer = byId.get(out ? e.to : e.from);
        const r = html('tr', { class: 'conn' + (vis.edges.get(i) && vis.nodes.get(n.id) ? '' : ' hidden'), 'data-n': idOf(n.id) });
        r.append(html('td', {}, ''), html('td', {}, ''), html('td', {}, ''), html('td', {}, out ? 'to' : 'from'),
          html('td', { class: 'name' }, peer.label + (peer.kind === 'outside' ? ' (outside)' : '')),
          html('td', {}, String(e.port)), html('td', {}, String(e.count)), html('td', {}, String(e.open)),
          html('td', {}, e.bytes_to_server + e.bytes_to_client > 0 ? bytes(e.bytes_to_server + e.bytes_to_client) : '—'));
        body.append(r);
      }
    }
  }

  // ---- details --------------------------------------------------------
  function select(id) {
    page.selected = id;
    render();
  }
  function details(view) {
    const pane = $('details');
    const n = page.selected && view.nodes.find((x) => x.id === page.selected);
    if (!n) { pane.hidden = true; return; }
    pane.hidden = false;
    $('details-title').textContent = n.label;
    const facts = $('details-facts');
    facts.replaceChildren();
    const fact = (k, v) => { if (v !== undefined && v !== null && v !== '') facts.append(html('dt', {}, k), html('dd', {}, String(v))); };
    fact('kind', n.kind === 'outside' ? 'outside peer (not traced)' : n.kind === 'group' ? 'client processes of one name' : 'process');
    fact('host', n.host);
    fact('pid', n.pid);
    fact('pids', n.pids && n.pids.join(' '));
    fact('ppid', n.ppid);
    fact('name', n.comm || n.name);
    fact('exe', n.exe);
    fact('cmdline', n.cmdline);
    fact('container', n.container);
    fact('pod', n.pod);
    fact('unit', n.unit);
    fact('started', n.start_ns ? duration(n.start_ns) + ' after boot' : undefined);
    fact('addresses', (n.addresses || []).join(' '));
    const body = $('details-conns').tBodies[0];
    body.replaceChildren();
    const now = view.now_ns || view.last_ns;
    for (const c of n.connections || []) {
      const state = c.closed ? `closed after ${duration(c.duration_ns)}` : c.open ? 'open' : '';
      const r = html('tr');
      body.append(r);
      r.append(html('td', {}, c.direction), html('td', {}, c.local), html('td', {}, c.remote), html('td', {}, state),
        html('td', {}, c.bytes_sent !== undefined ? bytes(c.bytes_sent) : '—'),
        html('td', {}, c.bytes_received !== undefined ? bytes(c.bytes_received) : '—'),
        html('td', {}, c.ts_ns && now ? duration(Math.max(0, now - c.ts_ns)) : '—'));
    }
    if (!(n.connections || []).length) {
      const r = html('tr');
      r.append(html('td', { colspan: 7 }, n.kind === 'outside' ? 'not traced: see the processes it talks to' : 'no connection details in this source'));
      body.append(r);
    }
  }

  // ---- header ---------------------------------------------------------
  function header(view) {
    $('source').textContent = view.source || 'nettrace';
    $('hosts').textContent = view.hosts.filter((h) => h).join(', ');
    const parts = [];
    if (view.first_ns) parts.push(`${clock(view.first_ns)} – ${clock(view.last_ns)} (${duration(view.last_ns - view.first_ns)})`);
    parts.push(...(view.title || []).slice(view.first_ns ? 2 : 1));
    $('window').textContent = parts.join(' · ');
    const lost = $('lost');
    lost.hidden = !(view.lost > 0);
    lost.textContent = view.lost > 0 ? `${view.lost} events lost: the graph is incomplete` : '';
    document.title = `${view.source || 'nettrace'}: ${view.hosts.filter((h) => h).join(', ')}`;
  }

  function render() {
    const view = page.view;
    if (!view) return;
    // How long each part took (ms), for whoever wonders why a big host is slow.
    const t0 = performance.now();
    const vis = visibility(view);
    page.visible = vis;
    const t1 = performance.now();
    draw(view, vis);
    const t2 = performance.now();
    table(view, vis);
    const t3 = performance.now();
    details(view);
    page.timing = { filter: t1 - t0, draw: t2 - t1, table: t3 - t2, details: performance.now() - t3 };
  }

  function apply(view) {
    layout(view);
    page.view = view;
    page.updates++;
    header(view);
    render();
    if (!page.fitted && view.nodes.length) { fit(); page.fitted = true; }
    $('status').textContent = (view.live ? 'live' : 'saved') + ' · updated ' + new Date().toLocaleTimeString();
    $('status').classList.remove('down');
  }

  function snapshot() {
    const view = page.view || { nodes: [], edges: [] };
    const vis = page.visible || { nodes: new Map(), edges: new Map() };
    return {
      updates: page.updates,
      nodes: view.nodes.map((n) => ({ id: n.id, n: idOf(n.id), label: n.label, kind: n.kind, host: n.host, pid: n.pid,
        visible: !!vis.nodes.get(n.id), x: page.pos.get(n.id).x, y: page.pos.get(n.id).y })),
      edges: view.edges.map((e, i) => ({ from: e.from, to: e.to, port: e.port, count: e.count, open: e.open, visible: !!vis.edges.get(i) })),
    };
  }

  // ---- pan and zoom ---------------------------------------------------
  const box = { x: 0, y: 0, w: 1000, h: 600 };
  function setBox() { $('graph').setAttribute('viewBox', `${box.x} ${box.y} ${box.w} ${box.h}`); }
  function fit() {
    const b = $('viewport').getBBox();
    const el = $('graph').getBoundingClientRect();
    const aspect = el.width > 0 && el.height > 0 ? el.width / el.height : 16 / 9;
    // Never closer than a few columns' worth: a small graph stays readable
    // at the size a large one is drawn at.
    let w = Math.max(b.width + 80, 1300), h = Math.max(b.height + 80, 500);
    if (w / h < aspect) w = h * aspect; else h = w / aspect;
    box.x = b.x + b.width / 2 - w / 2; box.y = b.y + b.height / 2 - h / 2; box.w = w; box.h = h;
    setBox();
  }
  function setup() {
    const g = $('graph');
    setBox();
    g.addEventListener('wheel', (ev) => {
      ev.preventDefault();
      const r = g.getBoundingClientRect();
      const k = ev.deltaY > 0 ? 1.15 : 1 / 1.15;
      const px = box.x + (ev.clientX - r.left) / r.width * box.w, py = box.y + (ev.clientY - r.top) / r.height * box.h;
      box.x = px - (px - box.x) * k; box.y = py - (py - box.y) * k; box.w *= k; box.h *= k;
      setBox();
    }, { passive: false });
    let drag = null;
    g.addEventListener('pointerdown', (ev) => {
      if (ev.target.closest('.node')) return;
      drag = { x: ev.clientX, y: ev.clientY, bx: box.x, by: box.y };
      g.classList.add('panning');
      g.setPointerCapture(ev.pointerId);
    });
    g.addEventListener('pointermove', (ev) => {
      if (!drag) return;
      const r = g.getBoundingClientRect();
      box.x = drag.bx - (ev.clientX - drag.x) / r.width * box.w;
      box.y = drag.by - (ev.clientY - drag.y) / r.height * box.h;
      setBox();
    });
    g.addEventListener('pointerup', () => { drag = null; g.classList.remove('panning'); });
    $('fit').addEventListener('click', fit);
    $('filter').addEventListener('input', (ev) => { page.filter = ev.target.value; render(); });
    $('close-details').addEventListener('click', () => { page.selected = null; render(); });

    const stream = new EventSource('/api/view/stream');
    stream.addEventListener('view', (ev) => apply(JSON.parse(ev.data)));
    stream.addEventListener('error', () => {
      $('status').textContent = 'disconnected: reconnecting…';
      $('status').classList.add('down');
    });
    // The "new" mark fades: redraw now and then while one is shown.
    setInterval(() => {
      const now = Date.now();
      if ([...page.seen.values()].some((t) => now - t < 6000)) render();
    }, 2500);
  }
  setup();
})();
