// callchart's statechart viewer: a plain browser script (no build step). It reads the server's
// Server-Sent Events (/inspect/events), lists the watched actors by kind, and draws the selected
// actor's machine from its definition with elkjs (served by the same server as /inspect/elk.js),
// highlighting the active states as snapshots arrive. Every string from the server is put in the
// page as text (textContent / SVG text nodes), never as markup: actor ids and payloads come from
// the wire (a SIP Call-ID is whatever the caller sent).
/* global ELK */
'use strict';

(() => {
  const SVG = 'http://www.w3.org/2000/svg';
  const KIND_ORDER = ['call', 'dialog', 'transaction', 'room', 'session', 'playbackSession', 'playback', 'recording', 'jambonzSession', 'audioStream'];
  const MAX_PER_KIND = 200;

  const st = {
    actors: new Map(),
    defs: new Map(),
    layouts: new Map(),
    selected: decodeURIComponent(location.hash.replace(/^#/, '')) || null,
    detail: null,
    events: [],
    eventLimit: 200,
    es: null,
    listQueued: false,
    drawn: null, // { machine, svg } currently in #chart
    lastActive: [],
  };

  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs, ...kids) => {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) n.setAttribute(k, String(v));
    for (const k of kids) n.append(k);
    return n;
  };
  const svgEl = (tag, attrs) => {
    const n = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) n.setAttribute(k, String(v));
    return n;
  };
  const time = (t) => {
    const d = new Date(t);
    const p = (n, w = 2) => String(n).padStart(w, '0');
    return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
  };

  // --- connection ---------------------------------------------------------------------------

  function connect() {
    if (st.es) st.es.close();
    const q = st.selected ? `?actor=${encodeURIComponent(st.selected)}` : '';
    const es = new EventSource(`/inspect/events${q}`);
    st.es = es;
    es.onopen = () => setConn('live');
    es.onerror = () => setConn(es.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting');
    es.onmessage = (e) => {
      let m;
      try {
        m = JSON.parse(e.data);
      } catch {
        return;
      }
      handle(m);
    };
  }

  function setConn(s) {
    const c = $('conn');
    c.dataset.conn = s;
    c.textContent = s === 'live' ? '● live' : s === 'reconnecting' ? '○ reconnecting…' : s;
  }

  function handle(m) {
    switch (m.type) {
      case 'hello':
        st.actors = new Map(m.actors.map((a) => [a.id, a]));
        st.eventLimit = m.eventsPerActor;
        st.events = [];
        $('stately-link').hidden = !m.stately;
        $('scope').textContent = m.filter ? `watching: ${m.filter}` : '';
        queueList();
        break;
      case 'actors': {
        const follow = $('follow').checked;
        let newest = null;
        for (const r of m.rows) {
          if (follow && r.kind === 'call' && !st.actors.has(r.id) && r.status === 'active') newest = r.id;
          st.actors.set(r.id, r);
        }
        for (const id of m.removed) st.actors.delete(id);
        queueList();
        if (newest && newest !== st.selected) select(newest);
        break;
      }
      case 'definition':
        st.defs.set(m.machine, m.definition);
        break;
      case 'events':
        if (m.id !== st.selected) break;
        st.events.push(...m.events);
        if (st.events.length > st.eventLimit) st.events.splice(0, st.events.length - st.eventLimit);
        renderEvents();
        break;
      case 'actor':
        if (m.actor.id !== st.selected) break;
        st.detail = m.actor;
        st.actors.set(m.actor.id, { ...st.actors.get(m.actor.id), ...rowOf(m.actor) });
        queueList();
        renderDetail();
        break;
      case 'gone':
        if (m.id === st.selected) {
          $('actor-status').textContent = 'forgotten';
          $('actor-status').dataset.status = 'gone';
        }
        break;
    }
  }

  const rowOf = (a) => ({ id: a.id, kind: a.kind, machine: a.machine, state: a.state, status: a.status, startedAt: a.startedAt, stoppedAt: a.stoppedAt });

  function select(id) {
    st.selected = id;
    st.detail = null;
    st.events = [];
    history.replaceState(null, '', `#${encodeURIComponent(id)}`);
    $('empty').hidden = true;
    $('actor').hidden = false;
    $('actor-title').textContent = id;
    $('events').tBodies[0].replaceChildren();
    $('context').textContent = '';
    $('transitions').replaceChildren();
    queueList();
    connect();
  }

  // --- the actor list -----------------------------------------------------------------------

  function queueList() {
    if (st.listQueued) return;
    st.listQueued = true;
    requestAnimationFrame(() => {
      st.listQueued = false;
      renderList();
    });
  }

  function renderList() {
    const q = $('search').value.trim().toLowerCase();
    const byKind = new Map();
    for (const a of st.actors.values()) {
      if (q && !`${a.id} ${a.kind} ${a.state}`.toLowerCase().includes(q)) continue;
      if (!byKind.has(a.kind)) byKind.set(a.kind, []);
      byKind.get(a.kind).push(a);
    }
    const kinds = [...byKind.keys()].sort((x, y) => {
      const ix = KIND_ORDER.indexOf(x);
      const iy = KIND_ORDER.indexOf(y);
      return (ix < 0 ? 99 : ix) - (iy < 0 ? 99 : iy) || x.localeCompare(y);
    });
    const frag = document.createDocumentFragment();
    for (const kind of kinds) {
      const list = byKind.get(kind).sort((x, y) => y.startedAt - x.startedAt);
      const live = list.filter((a) => a.status === 'active').length;
      const ul = el('ul');
      for (const a of list.slice(0, MAX_PER_KIND)) {
        const li = el('li', { 'data-actor-id': a.id, 'data-status': a.status, 'data-kind': a.kind, title: `${a.id} — ${a.status}` }, el('span', { class: 'aid' }, a.id), el('span', { class: 'astate' }, a.state));
        if (a.id === st.selected) li.classList.add('selected');
        ul.append(li);
      }
      if (list.length > MAX_PER_KIND) ul.append(el('li', { class: 'more' }, `… ${list.length - MAX_PER_KIND} more (filter to narrow)`));
      frag.append(el('section', { class: 'kind', 'data-kind': kind }, el('h3', {}, kind, ' ', el('span', { class: 'count' }, `${live} live · ${list.length}`)), ul));
    }
    if (!kinds.length) frag.append(el('p', { class: 'none' }, st.actors.size ? 'No actor matches the filter.' : 'No watched actor yet: place a call.'));
    $('actor-list').replaceChildren(frag);
  }

  $('actor-list').addEventListener('click', (e) => {
    const li = e.target.closest('li[data-actor-id]');
    if (li) select(li.dataset.actorId);
  });
  $('search').addEventListener('input', queueList);

  // --- the selected actor ---------------------------------------------------------------------

  function renderDetail() {
    const a = st.detail;
    if (!a) return;
    $('actor-title').textContent = a.id;
    $('actor-kind').textContent = a.kind;
    $('actor-status').textContent = a.status;
    $('actor-status').dataset.status = a.status;
    const state = $('actor-state');
    state.textContent = a.state || '—';
    state.dataset.state = a.state;
    $('actor-times').textContent = `started ${time(a.startedAt)}${a.stoppedAt ? ` · stopped ${time(a.stoppedAt)}` : ''}`;
    const ctx = { context: a.context };
    if (a.output !== undefined) ctx.output = a.output;
    if (a.error !== undefined) ctx.error = a.error;
    $('context').textContent = JSON.stringify(a.output === undefined && a.error === undefined ? a.context : ctx, null, 2);
    const def = a.machine ? st.defs.get(a.machine) : null;
    renderTransitions(def, a.active);
    if (!def) {
      $('chart').replaceChildren(el('p', { class: 'none' }, a.machine ? 'loading the machine…' : 'This actor is not a state machine.'));
      st.drawn = null;
      return;
    }
    if (!st.drawn || st.drawn.machine !== a.machine) {
      const machine = a.machine;
      st.drawn = { machine, svg: null };
      layout(machine, def).then(
        (lay) => {
          if (!st.drawn || st.drawn.machine !== machine) return;
          const svg = drawChart(def, lay);
          st.drawn.svg = svg;
          $('chart').replaceChildren(svg);
          highlight(st.detail ? st.detail.active : [], []);
        },
        (err) => {
          $('chart').replaceChildren(el('p', { class: 'none' }, `Could not lay out the chart: ${err && err.message ? err.message : err}. The transitions are listed below.`));
        },
      );
      st.lastActive = a.active;
      return;
    }
    if (st.drawn.svg) highlight(a.active, st.lastActive);
    st.lastActive = a.active;
  }

  function renderEvents() {
    const tbody = $('events').tBodies[0];
    const scroller = $('event-scroll');
    const atBottom = scroller.scrollTop + scroller.clientHeight >= scroller.scrollHeight - 8;
    const rows = st.events.map((e) =>
      el(
        'tr',
        { 'data-event-type': e.type },
        el('td', { class: 't' }, time(e.t)),
        el('td', { class: 'ev' }, e.type),
        el('td', { class: 'from' }, e.from || ''),
        el('td', { class: 'payload' }, e.summary),
        el('td', { class: 'to' }, e.to || ''),
      ),
    );
    tbody.replaceChildren(...rows);
    if (atBottom) scroller.scrollTop = scroller.scrollHeight;
  }

  function findNode(root, id) {
    if (root.id === id) return root;
    for (const c of root.states) {
      const f = findNode(c, id);
      if (f) return f;
    }
    return null;
  }

  function renderTransitions(def, active) {
    const ul = $('transitions');
    if (!def) return void ul.replaceChildren();
    const items = [];
    for (const id of active || []) {
      const node = findNode(def, id);
      if (!node) continue;
      for (const t of node.transitions) {
        const target = t.targets.length ? t.targets.map((x) => x.slice(def.id.length + 1) || def.id).join(', ') : '(stays)';
        items.push(
          el(
            'li',
            {},
            el('code', { class: 'ev' }, t.label),
            t.guard ? el('span', { class: 'guard' }, ` [${t.guard}]`) : '',
            ` → ${target}`,
            t.actions.length ? el('span', { class: 'actions' }, ` / ${t.actions.join(', ')}`) : '',
            el('span', { class: 'src' }, ` (in ${node.key})`),
          ),
        );
      }
    }
    ul.replaceChildren(...(items.length ? items : [el('li', { class: 'none' }, 'nothing: a final state')]));
  }

  // --- the chart: elkjs lays the states out, this draws them ----------------------------------

  const measure = (() => {
    const ctx = document.createElement('canvas').getContext('2d');
    return (text, font) => {
      ctx.font = font;
      return Math.ceil(ctx.measureText(text).width);
    };
  })();
  const STATE_FONT = '600 13px system-ui, sans-serif';
  const EDGE_FONT = '11px system-ui, sans-serif';

  function layout(machine, def) {
    if (st.layouts.has(machine)) return st.layouts.get(machine);
    const edges = new Map();
    const toElk = (n, isRoot) => {
      const width = measure(n.key, STATE_FONT);
      const node = { id: n.id, labels: [{ text: n.key, width, height: 16 }] };
      if (n.states.length) {
        node.children = n.states.map((c) => toElk(c, false));
        node.layoutOptions = { 'elk.padding': '[top=34,left=14,bottom=14,right=14]', 'elk.nodeSize.constraints': 'MINIMUM_SIZE', 'elk.nodeSize.minimum': `(${width + 40},40)` };
      } else {
        node.width = Math.max(72, width + 28);
        node.height = 36;
      }
      // Transitions declared on the root apply in every state: they are listed, not drawn.
      if (!isRoot) {
        for (const t of n.transitions) {
          for (const target of t.targets) {
            const key = `${n.id}\u0000${target}`;
            if (!edges.has(key)) edges.set(key, { source: n.id, target, labels: [] });
            const e = edges.get(key);
            if (!e.labels.includes(t.label)) e.labels.push(t.label);
          }
        }
      }
      return node;
    };
    const root = toElk(def, true);
    let i = 0;
    const graph = {
      id: '__root',
      layoutOptions: {
        'elk.algorithm': 'layered',
        'elk.direction': 'DOWN',
        'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
        'elk.json.shapeCoords': 'ROOT',
        'elk.json.edgeCoords': 'ROOT',
        'elk.edgeLabels.placement': 'CENTER',
        'elk.layered.spacing.nodeNodeBetweenLayers': '36',
        'elk.spacing.nodeNode': '28',
        'elk.spacing.edgeLabel': '2',
        'elk.layered.spacing.edgeNodeBetweenLayers': '16',
      },
      children: [root],
      edges: [...edges.values()].map((e) => ({
        id: `e${i++}`,
        sources: [e.source],
        targets: [e.target],
        labels: e.labels.map((text) => ({ text, width: measure(text, EDGE_FONT) + 6, height: 14 })),
      })),
    };
    const p = new ELK().layout(graph);
    st.layouts.set(machine, p);
    p.catch(() => st.layouts.delete(machine));
    return p;
  }

  function drawChart(def, lay) {
    const pad = 8;
    const svg = svgEl('svg', { class: 'chart', width: lay.width + 2 * pad, height: lay.height + 2 * pad, viewBox: `${-pad} ${-pad} ${lay.width + 2 * pad} ${lay.height + 2 * pad}`, role: 'img' });
    const defs = svgEl('defs');
    const marker = svgEl('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
    marker.append(svgEl('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' }));
    defs.append(marker);
    svg.append(defs);

    const byId = new Map();
    const index = (n) => {
      byId.set(n.id, n);
      n.states.forEach(index);
    };
    index(def);
    const parentType = new Map();
    const walkTypes = (n) => n.states.forEach((c) => (parentType.set(c.id, n), walkTypes(c)));
    walkTypes(def);

    const nodes = svgEl('g', { class: 'nodes' });
    const drawNode = (ln) => {
      const n = byId.get(ln.id);
      if (!n) return;
      const parent = parentType.get(n.id);
      const g = svgEl('g', { class: `state ${n.type}`, 'data-state-id': n.id, 'data-active': 'false' });
      if (parent && parent.type === 'parallel') g.classList.add('region');
      const title = svgEl('title');
      title.textContent = [n.id, n.entry.length ? `entry: ${n.entry.join(', ')}` : '', n.exit.length ? `exit: ${n.exit.join(', ')}` : '', n.invoke.length ? `invokes: ${n.invoke.join(', ')}` : '', n.tags.length ? `tags: ${n.tags.join(', ')}` : '', n.description || ''].filter(Boolean).join('\n');
      g.append(title);
      g.append(svgEl('rect', { x: ln.x, y: ln.y, width: ln.width, height: ln.height, rx: 8 }));
      if (n.type === 'final') g.append(svgEl('rect', { class: 'inner', x: ln.x + 3, y: ln.y + 3, width: ln.width - 6, height: ln.height - 6, rx: 6 }));
      const compound = n.states.length > 0;
      const text = svgEl('text', compound ? { x: ln.x + 12, y: ln.y + 21 } : { x: ln.x + ln.width / 2, y: ln.y + ln.height / 2 + 4.5, 'text-anchor': 'middle' });
      text.textContent = n === def ? `${n.key} (machine)` : n.key;
      g.append(text);
      if (parent && parent.initial === n.key) g.append(svgEl('circle', { class: 'initial', cx: ln.x - 1, cy: ln.y - 1, r: 4 }));
      nodes.append(g);
      for (const c of ln.children || []) drawNode(c);
    };
    for (const c of lay.children) drawNode(c);
    svg.append(nodes);

    const edgesG = svgEl('g', { class: 'edges' });
    for (const e of lay.edges || []) {
      const g = svgEl('g', { class: 'edge', 'data-source': e.sources[0], 'data-target': e.targets[0] });
      for (const s of e.sections || []) {
        const pts = [s.startPoint, ...(s.bendPoints || []), s.endPoint];
        g.append(svgEl('path', { d: pts.map((p, i) => `${i ? 'L' : 'M'}${p.x},${p.y}`).join(' '), 'marker-end': 'url(#arrow)' }));
      }
      for (const l of e.labels || []) {
        if (l.x === undefined) continue;
        g.append(svgEl('rect', { class: 'label-bg', x: l.x, y: l.y, width: l.width, height: l.height, rx: 3 }));
        const t = svgEl('text', { x: l.x + 3, y: l.y + 11 });
        t.textContent = l.text;
        g.append(t);
      }
      edgesG.append(g);
    }
    svg.append(edgesG);
    return svg;
  }

  function highlight(active, before) {
    const svg = st.drawn && st.drawn.svg;
    if (!svg) return;
    const on = new Set(active);
    for (const g of svg.querySelectorAll('g.state')) {
      const a = on.has(g.dataset.stateId);
      g.dataset.active = String(a);
      g.classList.toggle('active', a);
    }
    // The transition just taken: from a state left to a state entered.
    const was = new Set(before);
    for (const g of svg.querySelectorAll('g.edge')) {
      const taken = was.has(g.dataset.source) && !on.has(g.dataset.source) && on.has(g.dataset.target);
      g.classList.toggle('taken', taken);
    }
  }

  // --- start ----------------------------------------------------------------------------------

  if (st.selected) select(st.selected);
  else connect();
})();
