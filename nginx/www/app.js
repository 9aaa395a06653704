/* The Vesta calendar page: login, week view (a day at a time on a phone), appointment modal,
 * Google Calendar integration (primary or a dedicated "Vesta" calendar), sync direction and
 * reminders settings. */
'use strict';

const DAYS = ['lun', 'mar', 'mié', 'jue', 'vie', 'sáb', 'dom'];
const STATE_TEXT = {
  not_connected: 'No conectado', connected: 'Conectado', syncing: 'Sincronizando…',
  error: 'Error', reauth_required: 'Reconexión necesaria',
};
const DIR_TEXT = {
  bidirectional: 'Ambos sentidos', vesta_to_google: 'Solo de Vesta a Google',
  google_to_vesta: 'Solo de Google a Vesta', none: 'En pausa',
};
const SYNC_TEXT = { synced: 'Sincronizada con Google', pending: 'Pendiente de sincronizar', error: 'Error de sincronización', local: 'Solo en Vesta' };
const PHONE = 640; /* narrower than this: one day at a time */
const S = { span: 7, user: null, tz: 'Europe/Madrid', monday: null, appts: [], status: null, editing: null, lastSeen: '', opener: null, loadSeq: 0, shownWeek: '', apptsJson: '', drawn: '', direction: 'bidirectional', dirBusy: false };
const $ = (id) => document.getElementById(id);

async function api(method, path, body) {
  const opt = { method, headers: {}, credentials: 'same-origin' };
  if (body !== undefined) {
    opt.headers['Content-Type'] = 'application/json';
    opt.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, opt);
  } catch (e) {
    return { status: 0, ok: false, data: { error: 'Sin conexión con el servidor' } };
  }
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  if (res.status === 401 && path !== '/api/auth/login' && path !== '/api/auth/me') showLogin();
  return { status: res.status, ok: res.ok, data };
}

/* ---- time zone arithmetic (the user's zone, not the browser's) ---- */
function parts(date, tz) {
  const f = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', weekday: 'short' });
  const o = {};
  for (const p of f.formatToParts(date)) o[p.type] = p.value;
  return { y: +o.year, m: +o.month, d: +o.day, h: +o.hour % 24, mi: +o.minute, wd: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'].indexOf(o.weekday) };
}
/* The instant a wall time in tz names. When clocks go back it names two: the first. In the
 * hour they skip (02:00-03:00 on the last Sunday of March in Madrid) it names none: read it by
 * the offset of before the change (02:30 is 03:30), as Temporal's "compatible" does. */
function zonedToUtc(y, m, d, h, mi, tz) {
  const want = Date.UTC(y, m - 1, d, h, mi);
  const offset = (t) => { const p = parts(new Date(t), tz); return Date.UTC(p.y, p.m - 1, p.d, p.h, p.mi) - t; };
  const before = want - offset(want - 86400000), after = want - offset(want + 86400000);
  for (const t of [Math.min(before, after), Math.max(before, after)]) if (t + offset(t) === want) return new Date(t);
  return new Date(before);
}
const pad = (n) => String(n).padStart(2, '0');
const ymd = (o) => `${o.y}-${pad(o.m)}-${pad(o.d)}`;
function addDays(o, n) {
  const t = new Date(Date.UTC(o.y, o.m - 1, o.d + n));
  return { y: t.getUTCFullYear(), m: t.getUTCMonth() + 1, d: t.getUTCDate() };
}
function parseYmd(s) { const [y, m, d] = s.split('-').map(Number); return { y, m, d }; }
function fmtTime(date) { const p = parts(date, S.tz); return `${pad(p.h)}:${pad(p.mi)}`; }
function fmtDateTime(iso) {
  return new Intl.DateTimeFormat('es-ES', { timeZone: S.tz, dateStyle: 'medium', timeStyle: 'short' }).format(new Date(iso));
}

/* ---- messages ---- */
let toastTimer = null;
function toast(msg, bad) {
  const t = $('toast');
  t.textContent = msg;
  t.className = 'toast' + (bad ? ' bad' : '');
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, 6000);
}

/* ---- login ---- */
function showLogin() {
  S.user = null;
  $('login').hidden = false;
  $('calendar').hidden = true;
  $('weeknav').hidden = true;
  $('userbar').hidden = true;
  $('email').focus();
}
async function boot() {
  const me = await api('GET', '/api/auth/me');
  if (!me.ok) { showLogin(); return; }
  S.user = me.data;
  S.tz = me.data.timezone || 'Europe/Madrid';
  $('who').textContent = me.data.email;
  $('login').hidden = true;
  $('calendar').hidden = false;
  $('weeknav').hidden = false;
  $('userbar').hidden = false;
  goToday();
  await refreshStatus();
  await loadSettings();
}
$('loginform').addEventListener('submit', async (e) => {
  e.preventDefault();
  $('loginerror').hidden = true;
  const r = await api('POST', '/api/auth/login', { email: $('email').value.trim(), password: $('password').value });
  if (!r.ok) {
    $('loginerror').textContent = r.status === 401 ? 'Correo o contraseña incorrectos' : (r.data && r.data.error) || 'No se pudo entrar';
    $('loginerror').hidden = false;
    return;
  }
  $('password').value = '';
  await boot();
});
$('logout').addEventListener('click', async () => {
  await api('POST', '/api/auth/logout', {});
  showLogin();
});

/* ---- week view (S.monday is the first day shown: a Monday, or any day on a phone) ---- */
function spanFor() { return window.innerWidth < PHONE ? 1 : 7; }
function weekday(d) { return (new Date(Date.UTC(d.y, d.m - 1, d.d)).getUTCDay() + 6) % 7; }
function goToday() {
  const p = parts(new Date(), S.tz);
  S.span = spanFor();
  S.monday = S.span === 7 ? addDays({ y: p.y, m: p.m, d: p.d }, -p.wd) : { y: p.y, m: p.m, d: p.d };
  S.scrolled = false;
  loadWeek();
}
$('today').addEventListener('click', goToday);
$('prev').addEventListener('click', () => { S.monday = addDays(S.monday, -S.span); loadWeek(); });
$('next').addEventListener('click', () => { S.monday = addDays(S.monday, S.span); loadWeek(); });
window.addEventListener('resize', () => {
  if (!S.user || spanFor() === S.span) return;
  const first = S.monday;
  S.span = spanFor();
  /* to a day: the first day of the week shown (today when it is in it); to a week: its Monday */
  if (S.span === 1) {
    const p = parts(new Date(), S.tz), t = { y: p.y, m: p.m, d: p.d };
    const inWeek = ymd(t) >= ymd(first) && ymd(t) < ymd(addDays(first, 7));
    S.monday = inWeek ? t : first;
  } else {
    S.monday = addDays(first, -weekday(first));
  }
  loadWeek();
});

/* What the grid shows: its first day AND how many days (on a Monday, the phone's day and the
 * week it widens to start on the same date), in which zone; drawnKey() adds the day marked
 * today, which moves at midnight in that zone. */
function shownKey() { return `${ymd(S.monday)}+${S.span} ${S.tz}`; }
function drawnKey(today) { return `${shownKey()} ${today || ymd(parts(new Date(), S.tz))}`; }

async function loadWeek() {
  const seq = ++S.loadSeq;
  const week = shownKey();
  if (S.shownWeek !== week) { /* never show last week's appointments under this week's label */
    S.shownWeek = week;
    S.appts = [];
    S.apptsJson = '';
    render();
  }
  const from = zonedToUtc(S.monday.y, S.monday.m, S.monday.d, 0, 0, S.tz);
  const sun = addDays(S.monday, S.span);
  const to = zonedToUtc(sun.y, sun.m, sun.d, 0, 0, S.tz);
  const end = addDays(S.monday, S.span - 1);
  $('weeklabel').textContent = S.span === 1
    ? `${DAYS[weekday(S.monday)]} ${S.monday.d}/${S.monday.m}/${S.monday.y}`
    : `${S.monday.d}/${S.monday.m} – ${end.d}/${end.m}/${end.y}`;
  $('weeknav').setAttribute('aria-label', S.span === 1 ? 'Día' : 'Semana');
  const base = `/api/appointments?from=${encodeURIComponent(from.toISOString())}&to=${encodeURIComponent(to.toISOString())}`;
  /* the list comes in pages: follow nextCursor until the last one */
  let all = [];
  let cursor = null;
  for (let pageNo = 0; pageNo < 100; pageNo++) {
    const r = await api('GET', cursor ? `${base}&cursor=${encodeURIComponent(cursor)}` : base);
    if (seq !== S.loadSeq) return; /* a newer request (another week) answers for the page */
    if (!r.ok) { toast((r.data && r.data.error) || 'No se pudieron cargar las citas', true); return; }
    all = all.concat(r.data.appointments);
    cursor = r.data.nextCursor;
    if (!cursor) break;
  }
  const fresh = JSON.stringify(all);
  /* nothing changed, not even the day that is today: leave the page (and its focus) alone */
  if (fresh === S.apptsJson && S.drawn === drawnKey()) return;
  S.apptsJson = fresh;
  S.appts = all;
  render();
}

function syncMark(a) {
  return { synced: '✓', pending: '⟳', error: '⚠', local: '' }[a.syncState] || '';
}

function apptButton(a, label) {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = `appt t-${a.type} ${a.status}`;
  b.dataset.id = a.id;
  b.dataset.title = a.title;
  b.dataset.sync = a.syncState;
  b.setAttribute('aria-label', `${a.title}, ${label}, ${a.type}. ${SYNC_TEXT[a.syncState] || ''}`);
  const t = document.createElement('span');
  t.className = 't';
  t.textContent = a.title;
  const s = document.createElement('span');
  s.className = 's';
  s.textContent = label;
  const m = document.createElement('span');
  m.className = 'sync';
  m.textContent = syncMark(a);
  m.title = (SYNC_TEXT[a.syncState] || '') + (a.syncError ? `: ${a.syncError}` : '');
  b.append(t, s, m);
  b.addEventListener('click', (e) => { e.stopPropagation(); openModal(a, b); });
  return b;
}

/* Where keyboard focus is, in terms that survive a re-render. */
function focusKey() {
  const el = document.activeElement;
  if (!el || !$('grid').contains(el)) return null;
  if (el.classList.contains('slot')) return `.slot[data-day="${el.dataset.day}"][data-hour="${el.dataset.hour}"]`;
  if (el.classList.contains('appt')) return `.appt[data-id="${el.dataset.id}"]`;
  return null;
}

function render() {
  const g = $('grid');
  const keep = focusKey();
  g.replaceChildren();
  const todayStr = ymd(parts(new Date(), S.tz));
  S.drawn = drawnKey(todayStr);
  const days = [...Array(S.span).keys()].map((i) => addDays(S.monday, i));
  g.className = `grid days-${S.span}`;
  g.style.gridTemplateColumns = `56px repeat(${S.span}, minmax(${S.span === 1 ? 0 : 110}px, 1fr))`;
  g.append(Object.assign(document.createElement('div'), { className: 'corner' }));
  days.forEach((d) => {
    const h = document.createElement('div');
    h.className = 'dayhead' + (ymd(d) === todayStr ? ' today' : '');
    h.innerHTML = '';
    h.append(document.createTextNode(DAYS[weekday(d)]), Object.assign(document.createElement('small'), { textContent: `${d.d}/${d.m}` }));
    g.append(h);
  });
  g.append(Object.assign(document.createElement('div'), { className: 'alldaylabel', textContent: 'todo el día' }));
  const alldayCells = days.map((d) => {
    const c = document.createElement('div');
    c.className = 'allday';
    c.dataset.day = ymd(d);
    g.append(c);
    return c;
  });
  const hours = document.createElement('div');
  hours.className = 'hours';
  for (let h = 0; h < 24; h++) hours.append(Object.assign(document.createElement('div'), { className: 'hourlabel', textContent: h ? `${pad(h)}:00` : '' }));
  g.append(hours);
  const cols = days.map((d) => {
    const col = document.createElement('div');
    col.className = 'daycol';
    col.dataset.day = ymd(d);
    for (let h = 0; h < 24; h++) {
      const slot = document.createElement('div');
      slot.className = 'slot';
      slot.tabIndex = 0;
      slot.setAttribute('role', 'button');
      slot.setAttribute('aria-label', `Nueva cita ${DAYS[weekday(d)]} ${d.d}/${d.m} a las ${pad(h)}:00`);
      slot.dataset.day = ymd(d);
      slot.dataset.hour = h;
      const open = () => openNew(d, h, slot);
      slot.addEventListener('click', open);
      slot.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); open(); } });
      col.append(slot);
    }
    g.append(col);
    return col;
  });
  const hourPx = parseFloat(getComputedStyle(document.documentElement).getPropertyValue('--hour')) || 44;
  const perDay = days.map(() => []);
  for (const a of S.appts) {
    if (a.allDay) {
      const s = a.start, e = a.end;
      days.forEach((d, i) => { const k = ymd(d); if (k >= s && k < e) alldayCells[i].append(apptButton(a, 'todo el día')); });
      continue;
    }
    const st = new Date(a.start), en = new Date(a.end);
    const p = parts(st, S.tz);
    const i = days.findIndex((d) => ymd(d) === ymd(p));
    if (i < 0) continue;
    const top = (p.h + p.mi / 60) * hourPx;
    /* down to the end's wall time, as the hour lines are (a day clocks change on has 23 or 25
       hours), or to midnight */
    const q = parts(en, S.tz);
    const endH = ymd(q) > ymd(p) ? 24 : q.h + q.mi / 60;
    const minutes = Math.max(20, (endH - p.h - p.mi / 60) * 60);
    perDay[i].push({ a, top, height: (minutes / 60) * hourPx - 2, label: `${fmtTime(st)}–${fmtTime(en)}` });
  }
  if (!S.scrolled) { /* open on the working day, not at midnight */
    $('calendar').scrollTop = 7.5 * hourPx;
    S.scrolled = true;
  }
  perDay.forEach((list, i) => {
    list.sort((x, y) => x.top - y.top);
    const lanes = [];
    for (const it of list) {
      let lane = lanes.findIndex((end) => end <= it.top);
      if (lane < 0) { lane = lanes.length; lanes.push(0); }
      lanes[lane] = it.top + it.height;
      it.lane = lane;
    }
    for (const it of list) {
      const b = apptButton(it.a, it.label);
      const w = 100 / Math.max(1, lanes.length);
      b.style.top = `${it.top}px`;
      b.style.height = `${it.height}px`;
      b.style.left = `calc(${it.lane * w}% + 2px)`;
      b.style.width = `calc(${w}% - 4px)`;
      b.style.right = 'auto';
      cols[i].append(b);
    }
  });
  if (keep) { const el = g.querySelector(keep); if (el) el.focus({ preventScroll: true }); }
}

/* ---- appointment modal ---- */
function localInput(date) { const p = parts(date, S.tz); return `${ymd(p)}T${pad(p.h)}:${pad(p.mi)}`; }
function setAllDay(on) {
  $('f-start').type = on ? 'date' : 'datetime-local';
  $('f-end').type = on ? 'date' : 'datetime-local';
}
function openNew(day, hour, opener) {
  const st = zonedToUtc(day.y, day.m, day.d, hour, 0, S.tz);
  openModal({ title: '', type: 'Visita', status: 'Scheduled', allDay: false, start: st.toISOString(), end: new Date(st.getTime() + 3600000).toISOString(), location: '', description: '' }, opener);
}
function openModal(a, opener) {
  S.editing = a;
  S.opener = opener || null;
  $('modaltitle').textContent = a.id ? 'Editar cita' : 'Nueva cita';
  $('f-title').value = a.title;
  $('f-type').value = a.type;
  $('f-status').value = a.status;
  $('f-allday').checked = !!a.allDay;
  setAllDay(!!a.allDay);
  if (a.allDay) {
    $('f-start').value = a.start;
    $('f-end').value = ymd(addDays(parseYmd(a.end), -1)); /* shown inclusive */
  } else {
    $('f-start').value = localInput(new Date(a.start));
    $('f-end').value = localInput(new Date(a.end));
  }
  $('f-location').value = a.location || '';
  $('f-description').value = a.description || '';
  $('formerror').hidden = true;
  $('delete').hidden = !a.id;
  const ind = $('syncind');
  if (a.id && a.syncState && a.syncState !== 'local') {
    ind.hidden = false;
    ind.className = `syncind ${a.syncState}`;
    ind.textContent = (SYNC_TEXT[a.syncState] || a.syncState) + (a.syncError ? `: ${a.syncError}` : '');
  } else {
    ind.hidden = true;
  }
  $('backdrop').hidden = false;
  $('modal').hidden = false;
  $('f-title').focus();
}
function closeModal() {
  $('modal').hidden = true;
  $('backdrop').hidden = true;
  S.editing = null;
  if (S.opener && document.body.contains(S.opener)) S.opener.focus();
}
$('f-allday').addEventListener('change', () => {
  const on = $('f-allday').checked;
  const s = $('f-start').value, e = $('f-end').value;
  setAllDay(on);
  $('f-start').value = on ? s.slice(0, 10) : `${s.slice(0, 10)}T09:00`;
  $('f-end').value = on ? e.slice(0, 10) : `${e.slice(0, 10)}T10:00`;
});
$('cancel').addEventListener('click', closeModal);
$('backdrop').addEventListener('click', closeModal);
document.addEventListener('keydown', (e) => {
  if (e.key !== 'Escape') return;
  if (!$('modal').hidden) closeModal();
  else if (!$('intpanel').hidden) togglePanel(false);
});

function formError(msg) { $('formerror').textContent = msg; $('formerror').hidden = false; }
function wallToIso(v) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(v);
  return m ? zonedToUtc(+m[1], +m[2], +m[3], +m[4], +m[5], S.tz).toISOString() : null;
}
$('apptform').addEventListener('submit', async (e) => {
  e.preventDefault();
  const a = S.editing;
  const allDay = $('f-allday').checked;
  const body = {
    title: $('f-title').value.trim(), type: $('f-type').value, status: $('f-status').value,
    location: $('f-location').value, description: $('f-description').value, allDay,
  };
  if (!body.title) return formError('El título es obligatorio');
  if (allDay) {
    if (!/^\d{4}-\d{2}-\d{2}$/.test($('f-start').value) || !/^\d{4}-\d{2}-\d{2}$/.test($('f-end').value)) return formError('Indica las fechas');
    body.start = $('f-start').value;
    body.end = ymd(addDays(parseYmd($('f-end').value), 1));
  } else {
    body.start = wallToIso($('f-start').value);
    body.end = wallToIso($('f-end').value);
    if (!body.start || !body.end) return formError('Indica inicio y fin');
  }
  if (a.id) {
    /* an edit sends only what changed: the rest (e.g. a long description imported from
       Google) stays as it is, here and on Google */
    const sameTime = (x, y) => x === y || (!!x && !!y && Date.parse(x) === Date.parse(y));
    for (const k of ['title', 'type', 'status', 'location', 'description'])
      if (body[k] === (a[k] === undefined || a[k] === null ? '' : a[k])) delete body[k];
    if (body.allDay === !!a.allDay && sameTime(body.start, a.start) && sameTime(body.end, a.end)) {
      delete body.allDay; delete body.start; delete body.end;
    }
  }
  $('save').disabled = true;
  const r = a.id ? await api('PATCH', `/api/appointments/${a.id}`, body) : await api('POST', '/api/appointments', body);
  $('save').disabled = false;
  if (!r.ok) return formError((r.data && r.data.error) || 'No se pudo guardar');
  closeModal();
  toast(a.id ? 'Cita actualizada' : 'Cita creada');
  await loadWeek();
  setTimeout(loadWeek, 1500); /* its push to Google finishes just after the save */
});
$('delete').addEventListener('click', async () => {
  const a = S.editing;
  if (!a || !a.id || !window.confirm(`¿Eliminar «${a.title}»?`)) return;
  const r = await api('DELETE', `/api/appointments/${a.id}`);
  if (!r.ok) return formError((r.data && r.data.error) || 'No se pudo eliminar');
  closeModal();
  toast('Cita eliminada');
  await loadWeek();
});

/* ---- Google Calendar integration ---- */
function togglePanel(open) {
  $('intpanel').hidden = !open;
  $('intbtn').setAttribute('aria-expanded', String(open));
}
$('intbtn').addEventListener('click', (e) => { e.stopPropagation(); togglePanel($('intpanel').hidden); });
document.addEventListener('click', (e) => { if (!$('intpanel').hidden && !$('intpanel').contains(e.target)) togglePanel(false); });

function renderStatus(st) {
  const state = st.state;
  const paused = !!(st.connected && st.paused); /* the user's choice: nothing moves until resumed */
  $('intdot').className = `dot ${state}` + (paused && state === 'connected' ? ' paused' : '');
  $('intstate').textContent = STATE_TEXT[state] || state;
  const badge = $('intbadge');
  badge.className = `badge ${state}`;
  badge.replaceChildren();
  if (state === 'syncing') badge.append(Object.assign(document.createElement('span'), { className: 'spinner' }));
  else badge.textContent = { connected: '✓', error: '!', reauth_required: '!', not_connected: '–' }[state] || '';
  let detail = STATE_TEXT[state] || state;
  if (paused) detail += ' · sincronización en pausa';
  if (st.connected) detail += st.calendar === 'vesta' ? ' · calendario «Vesta»' : ' · calendario principal';
  if (st.lastSync) detail += ` · última sincronización ${fmtDateTime(st.lastSync)}`;
  if (st.connected && st.pending > 0) detail += ` · ${st.pending} cambio(s) pendiente(s)`;
  if (st.connected && !st.realtime) detail += ' · sin notificaciones en tiempo real (sondeo)';
  $('intdetail').textContent = detail;
  const err = $('interror');
  err.hidden = !st.lastError;
  err.textContent = st.lastError || '';
  const prog = $('intprogress');
  const ptext = progressText(st.progress);
  prog.hidden = !ptext;
  prog.textContent = ptext;
  $('intstate').textContent = ptext && state === 'syncing' ? ptext : (STATE_TEXT[state] || state) + (paused ? ' · en pausa' : '');
  $('choices').hidden = state !== 'not_connected';
  $('syncnow').hidden = !(state === 'connected' || state === 'syncing');
  $('syncnow').disabled = state === 'syncing';
  $('retry').hidden = state !== 'error';
  $('reconnect').hidden = state !== 'reauth_required';
  $('disconnect').hidden = state === 'not_connected';
}

/* "2.500": thousands with a dot, as written in Spain (Intl leaves 4-digit numbers alone) */
function fmtCount(n) { return String(Math.max(0, Math.floor(n))).replace(/\B(?=(\d{3})+(?!\d))/g, '.'); }
function progressText(p) {
  if (!p || typeof p.done !== 'number') return '';
  if (p.phase === 'import') return `Importando… ${fmtCount(p.done)} eventos`;
  if (p.phase === 'push') return p.total ? `Enviando a Google… ${fmtCount(p.done)} de ${fmtCount(p.total)} citas` : `Enviando a Google… ${fmtCount(p.done)} citas`;
  return `Recibiendo cambios… ${fmtCount(p.done)} eventos`;
}

async function refreshStatus() {
  if (!S.user) return;
  const r = await api('GET', '/api/google/calendar/status');
  if (!r.ok) return;
  const before = S.status;
  S.status = r.data;
  renderStatus(r.data);
  const mark = `${r.data.lastSync}|${r.data.state}|${r.data.pending}`;
  if (before && mark !== S.lastSeen) loadWeek(); /* something synced: show it */
  S.lastSeen = mark;
}

async function syncNow() {
  renderStatus(Object.assign({}, S.status || {}, { state: 'syncing' }));
  const r = await api('POST', '/api/google/calendar/sync', {});
  if (r.ok && r.data) toast(r.data.queued ? 'Sincronización en curso' : `Sincronizado: ${r.data.syncedEvents} cambio(s)`);
  else toast((r.data && r.data.error) || 'No se pudo sincronizar', true);
  await refreshStatus();
  await loadWeek();
}
$('syncnow').addEventListener('click', syncNow);
$('retry').addEventListener('click', syncNow);
const connect = (which) => { window.location.href = `/api/google/calendar/connect?calendar=${which}`; };
$('connect').addEventListener('click', () => connect('primary'));
$('connect-vesta').addEventListener('click', () => connect('vesta'));
$('reconnect').addEventListener('click', () => connect((S.status && S.status.calendar) || 'primary'));

/* ---- sync direction setting (saved as soon as it is chosen) ---- */
const chosenDirection = () => (document.querySelector('#dirform input[name=dir]:checked') || {}).value;
function showDirection(d) {
  const el = $(`dir-${d}`);
  if (!el) return;
  S.direction = d;
  const inGroup = $('dirform').contains(document.activeElement);
  el.checked = true;
  if (inGroup) el.focus(); /* the focus stays on the choice that holds */
}
/* One PATCH at a time: a choice made while one is on its way is sent when it answers. */
async function saveDirection() {
  if (S.dirBusy) return;
  S.dirBusy = true;
  const err = $('direrror');
  let saved = false;
  try {
    for (let want = chosenDirection(); want && want !== S.direction; want = chosenDirection()) {
      err.hidden = true;
      const r = await api('PATCH', '/api/settings', { syncDirection: want });
      if (!r.ok || !r.data || !DIR_TEXT[r.data.syncDirection]) {
        err.textContent = `No se pudo cambiar el sentido de la sincronización: ${(r.data && r.data.error) || 'error del servidor'}`;
        err.hidden = false;
        showDirection(S.direction); /* back to what is saved */
        break;
      }
      S.direction = r.data.syncDirection;
      saved = true;
    }
  } finally {
    S.dirBusy = false;
  }
  if (!saved) return;
  if (err.hidden) toast(`Sentido de la sincronización: ${DIR_TEXT[S.direction]}`);
  await refreshStatus(); /* the pause shows at once */
}
for (const el of document.querySelectorAll('#dirform input[name=dir]')) el.addEventListener('change', saveDirection);
$('dirform').addEventListener('submit', (e) => e.preventDefault());

/* ---- reminders setting ---- */
function showSettings(s) {
  const custom = Array.isArray(s.reminders);
  $('rem-default').checked = !custom;
  $('rem-custom').checked = custom;
  $('rem-minutes').value = custom ? s.reminders.join(', ') : '';
  $('rem-minutes').disabled = !custom;
}
async function loadSettings() {
  const r = await api('GET', '/api/settings');
  if (r.ok && r.data) {
    showSettings(r.data);
    if (r.data.syncDirection && !S.dirBusy) showDirection(r.data.syncDirection);
  }
}
for (const id of ['rem-default', 'rem-custom']) {
  $(id).addEventListener('change', () => { $('rem-minutes').disabled = !$('rem-custom').checked; if ($('rem-custom').checked) $('rem-minutes').focus(); });
}
$('settingsform').addEventListener('submit', async (e) => {
  e.preventDefault();
  const err = $('remerror');
  err.hidden = true;
  let reminders = 'default';
  if ($('rem-custom').checked) {
    const parts2 = $('rem-minutes').value.split(',').map((x) => x.trim()).filter((x) => x !== '');
    if (parts2.length > 5 || parts2.some((x) => !/^\d+$/.test(x) || +x > 40320)) {
      err.textContent = 'Indica hasta 5 avisos, en minutos de 0 a 40320, separados por comas';
      err.hidden = false;
      return;
    }
    reminders = parts2.map(Number);
  }
  const r = await api('PATCH', '/api/settings', { reminders });
  if (!r.ok) {
    err.textContent = (r.data && r.data.error) || 'No se pudieron guardar los recordatorios';
    err.hidden = false;
    return;
  }
  showSettings(r.data);
  toast('Recordatorios guardados');
});
$('disconnect').addEventListener('click', async () => {
  if (!window.confirm('¿Desconectar Google Calendar? Tus citas se conservan en Vesta.')) return;
  const r = await api('POST', '/api/google/calendar/disconnect', {});
  if (r.ok) toast(r.data.message || 'Google Calendar desconectado');
  else toast((r.data && r.data.error) || 'No se pudo desconectar', true);
  await refreshStatus();
  await loadWeek();
});

/* messages after the OAuth round trip */
(function consentResult() {
  const q = new URLSearchParams(window.location.search);
  const g = q.get('google');
  if (!g) return;
  /* Only these texts are ever shown: the reason in the URL is a key, never text to display
   * (anyone can send a link with any words in it). */
  const reasons = new Map([
    ['access_denied', 'has denegado el acceso'],
    ['invalid_state', 'la solicitud caducó o no es válida'],
    ['expired_state', 'la solicitud caducó'],
    ['state_mismatch', 'la solicitud era de otra sesión'],
    ['not_logged_in', 'la sesión había caducado'],
    ['missing_code', 'Google no devolvió la autorización'],
    ['token_exchange_failed', 'Google rechazó el código'],
    ['google_unavailable', 'Google no responde'],
    ['insufficient_scope', 'no se concedió permiso para el calendario'],
    ['no_refresh_token', 'Google no concedió acceso permanente; vuelve a conectar'],
    ['server_error', 'error interno del servidor'],
    ['not_configured', 'Google Calendar no está configurado en este servidor'],
    ['google_error', 'Google devolvió un error'],
  ]);
  const reason = reasons.get(q.get('reason'));
  if (g === 'connected') toast('Google Calendar conectado. Sincronizando tus citas…');
  else if (reason) toast(`No se pudo conectar Google Calendar: ${reason}`, true);
  else toast('No se pudo conectar Google Calendar. Inténtalo de nuevo.', true);
  history.replaceState(null, '', '/calendario');
})();

setInterval(refreshStatus, 3000);
setInterval(() => { if (S.user && $('modal').hidden) loadWeek(); }, 20000);
boot();
