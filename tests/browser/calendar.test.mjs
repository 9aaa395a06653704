// Browser tests of /calendario: playwright-core driving Debian's chromium against the whole
// stack (nginx, the route programs, the Google emulator) started by stackd.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const STACKD = process.env.CALSYNC_STACKD;
const OUT = process.env.CALSYNC_BROWSER_OUT || join(process.cwd(), 'out');
const TZ = 'Europe/Madrid';
// The page's clock starts here and runs on (the stack keeps the real one: it stores the dates it
// is sent). A Monday, when a phone's day and the week around it start on the same date.
const NOW = '2026-12-07T09:30:00+01:00';
const PHONE = { width: 390, height: 844 }, WIDE = { width: 1280, height: 860 };
let stackd, stack, browser, page;

function shot(name) {
  return page.screenshot({ path: join(OUT, `${name}.png`), fullPage: false });
}

// today's date and UTC offset in the user's zone, as the page computes them (by its clock)
async function zoneNow() {
  const now = await page.evaluate(() => Date.now());
  const f = new Intl.DateTimeFormat('en-CA', { timeZone: TZ, year: 'numeric', month: '2-digit', day: '2-digit', timeZoneName: 'longOffset' });
  const p = Object.fromEntries(f.formatToParts(new Date(now)).map((x) => [x.type, x.value]));
  const off = p.timeZoneName === 'GMT' ? '+00:00' : p.timeZoneName.replace('GMT', '');
  return { day: `${p.year}-${p.month}-${p.day}`, off };
}

// the days of the grid's columns
const shownDays = () => page.$$eval('#grid .daycol', (cols) => cols.map((c) => c.dataset.day));
const addDays = (day, n) => new Date(Date.parse(`${day}T00:00:00Z`) + n * 86400000).toISOString().slice(0, 10);
const weekFrom = (monday) => [0, 1, 2, 3, 4, 5, 6].map((i) => addDays(monday, i));
const mondayOf = (day) => addDays(day, -((new Date(`${day}T00:00:00Z`).getUTCDay() + 6) % 7));
// the day marked today, as its header writes it ("8/12")
const todayMark = () => page.textContent('#grid .dayhead.today small');
const dm = (day) => `${+day.slice(8)}/${+day.slice(5, 7)}`;

async function emu(method, path, body) {
  const res = await fetch(`${stack.emu}/_emulator/${path}`, {
    method, headers: { 'Content-Type': 'application/json' }, body: body ? JSON.stringify(body) : undefined,
  });
  return res.json();
}

async function until(what, fn, ms = 15000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/* Waits until the stack has stopped calling Google (no call for a second): a one-shot fault set
 * after that is met by the call the test makes, not by a push or pull still running from before. */
async function emuQuiet() {
  let last = -1, since = Date.now();
  await until('Google calls to stop', async () => {
    const n = (await emu('GET', 'stats')).calls;
    if (n !== last) { last = n; since = Date.now(); }
    return Date.now() - since >= 1000;
  });
}

async function showing(what, days) {
  let got = [];
  try {
    await until(what, async () => (got = await shownDays()).join() === days.join());
  } catch (e) {
    throw new Error(`${e.message}: the grid shows ${got.join(' ') || 'no day'}, not ${days.join(' ')}`);
  }
}

// the settings as the server has them, and the sync direction the menu shows
const savedSettings = () => page.evaluate(async () => (await fetch('/api/settings')).json());
const dirShown = () => page.$eval('#dirform input[name=dir]:checked', (i) => i.value);
const dirRadio = (name) => page.getByRole('radiogroup', { name: 'Sentido de la sincronización' }).getByRole('radio', { name });

async function openPanel() {
  if (await page.locator('#intpanel').isHidden()) await page.click('#intbtn');
  await page.locator('#intpanel').waitFor({ state: 'visible' });
}

before(async () => {
  assert.ok(STACKD, 'CALSYNC_STACKD must name the stackd program');
  mkdirSync(OUT, { recursive: true });
  stackd = spawn(STACKD, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  const line = await new Promise((resolve, reject) => {
    const rl = createInterface({ input: stackd.stdout });
    rl.once('line', resolve);
    stackd.once('exit', (code) => reject(new Error(`stackd exited with ${code}`)));
  });
  stack = JSON.parse(line);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const ctx = await browser.newContext({ viewport: WIDE, timezoneId: 'America/New_York' });
  await ctx.clock.install({ time: NOW });
  page = await ctx.newPage();
  page.on('dialog', (d) => d.accept());
});

after(async () => {
  if (browser) await browser.close();
  if (stackd) {
    stackd.stdin.end();
    await new Promise((r) => stackd.once('exit', r));
  }
});

test('log in', async () => {
  await page.goto(`${stack.base}/calendario`);
  await page.locator('#loginform').waitFor({ state: 'visible' });
  await shot('01-login');
  await page.fill('#email', 'agente@vesta.test');
  await page.fill('#password', 'wrong-password');
  await page.click('#loginform button[type=submit]');
  await page.locator('#loginerror').waitFor({ state: 'visible' });
  assert.match(await page.textContent('#loginerror'), /incorrectos/);
  await page.fill('#password', 'password-123');
  await page.click('#loginform button[type=submit]');
  await page.locator('#grid .daycol').first().waitFor();
  assert.equal(await page.locator('#grid .daycol').count(), 7);
  await until('status', async () => (await page.textContent('#intstate')) === 'No conectado');
  await shot('02-week-not-connected');
});

test('the page holds no secrets', async () => {
  const html = await page.content();
  for (const s of ['calsync-emulator-secret', 'client_secret', 'integration-test-webhook-secret']) assert.ok(!html.includes(s), s);
  const js = await (await fetch(`${stack.base}/calendario/app.js`)).text();
  assert.ok(!js.includes('secret'), 'app.js mentions a secret');
});

test('the result message shows only known reasons, never text from the URL', async () => {
  const generic = 'No se pudo conectar Google Calendar. Inténtalo de nuevo.';
  for (const reason of ['<script>evil', 'Your+account+is+hacked', 'constructor', '__proto__', '']) {
    await page.goto(`${stack.base}/calendario?google=error&reason=${reason}`);
    await page.locator('#toast').waitFor({ state: 'visible' });
    assert.equal(await page.textContent('#toast'), generic, reason);
    assert.equal(await page.locator('#toast script').count(), 0);
  }
  await page.goto(`${stack.base}/calendario?google=error&reason=access_denied`);
  await page.locator('#toast').waitFor({ state: 'visible' });
  assert.equal(await page.textContent('#toast'), 'No se pudo conectar Google Calendar: has denegado el acceso');
  await page.goto(`${stack.base}/calendario`);
  await page.locator('#grid .daycol').first().waitFor();
});

test('the menu offers the primary calendar or a dedicated Vesta calendar', async () => {
  await openPanel();
  assert.ok(await page.locator('#connect').isVisible());
  assert.ok(await page.locator('#connect-vesta').isVisible());
  const text = await page.textContent('#choices');
  assert.match(text, /principal/);
  assert.match(text, /«Vesta»/);
  assert.match(text, /no puede ver tus eventos personales/);
  assert.match(text, /se quedan en el otro calendario/);
  await shot('02b-calendar-choices');
  await page.keyboard.press('Escape');
});

test('the reminders setting', async () => {
  await openPanel();
  assert.ok(await page.locator('#rem-default').isChecked());
  await page.check('#rem-custom');
  await page.fill('#rem-minutes', '1, 2, 3, 4, 5, 6');
  await page.click('#remsave');
  await page.locator('#remerror').waitFor({ state: 'visible' });
  await page.fill('#rem-minutes', '10, 60');
  await page.click('#remsave');
  await until('saved', async () => /Recordatorios guardados/.test((await page.textContent('#toast')) || ''));
  assert.ok(await page.locator('#remerror').isHidden());
  const saved = await savedSettings();
  assert.deepEqual(saved.reminders, [10, 60]);
  assert.equal(saved.syncDirection, 'bidirectional'); // saving the reminders leaves it alone
  await shot('02c-reminders');
  await page.check('#rem-default');
  await page.click('#remsave');
  await until('back to default', async () => (await savedSettings()).reminders === 'default');
  await page.keyboard.press('Escape');
});

test('a long import shows its progress', async () => {
  // the status of a first sync of 2,500 events so far, as the worker reports it
  await page.route('**/api/google/calendar/status', (route) => route.fulfill({
    contentType: 'application/json',
    body: JSON.stringify({ provider: 'google_calendar', connected: true, state: 'syncing', calendar: 'vesta', calendarId: 'x@group.calendar.google.com', lastSync: null, lastError: null, pending: 0, realtime: true, progress: { phase: 'import', done: 2500, total: null } }),
  }));
  await until('progress', async () => (await page.textContent('#intstate')) === 'Importando… 2.500 eventos');
  await openPanel();
  assert.equal(await page.textContent('#intprogress'), 'Importando… 2.500 eventos');
  await shot('02d-import-progress');
  await page.unroute('**/api/google/calendar/status');
  await until('status again', async () => (await page.textContent('#intstate')) === 'No conectado');
  assert.ok(await page.locator('#intprogress').isHidden());
  await page.keyboard.press('Escape');
});

test('connect Google Calendar through the consent page', async () => {
  await openPanel();
  await page.click('#connect');
  await page.waitForURL(/\/calendario/);
  await page.locator('#toast').waitFor({ state: 'visible' });
  assert.match(await page.textContent('#toast'), /conectado/i);
  assert.ok(!page.url().includes('google='), 'the query is cleaned up');
  await until('connected', async () => (await page.textContent('#intstate')) === 'Conectado');
  await openPanel();
  assert.match(await page.textContent('#intdetail'), /última sincronización/);
  assert.ok(await page.locator('#syncnow').isVisible());
  assert.ok(await page.locator('#disconnect').isVisible());
  await shot('03-connected');
  await page.keyboard.press('Escape');
});

test('an appointment created here reaches Google', async () => {
  const { day } = await zoneNow();
  await page.click(`.slot[data-day="${day}"][data-hour="10"]`);
  await page.locator('#modal').waitFor({ state: 'visible' });
  await page.fill('#f-title', 'Visita Calle Luna 3');
  await page.selectOption('#f-type', 'Visita');
  await page.fill('#f-location', 'Calle Luna 3');
  await page.click('#save');
  const appt = page.locator('.appt[data-title="Visita Calle Luna 3"]');
  await appt.waitFor();
  const ev = await until('the event in Google', async () => {
    const r = await emu('GET', 'events');
    return r.items.find((e) => e.summary === 'Visita Calle Luna 3');
  });
  assert.equal(ev.start.timeZone, TZ);
  assert.match(ev.start.dateTime, new RegExp(`^${day}T10:00:00`));
  await until('synced mark', async () => (await appt.getAttribute('data-sync')) === 'synced');
  await shot('04-created-synced');
  await appt.click();
  await page.locator('#syncind').waitFor({ state: 'visible' });
  assert.match(await page.textContent('#syncind'), /Sincronizada/);
  await shot('05-modal');
  await page.keyboard.press('Escape');
  await page.locator('#modal').waitFor({ state: 'hidden' });
});

test('an event created in Google appears without reloading', async () => {
  const { day, off } = await zoneNow();
  await emu('POST', 'events', {
    summary: 'Firma en notaría (Google)',
    start: { dateTime: `${day}T12:00:00${off}`, timeZone: TZ },
    end: { dateTime: `${day}T13:00:00${off}`, timeZone: TZ },
  });
  await page.locator('.appt[data-title="Firma en notaría (Google)"]').waitFor({ timeout: 20000 });
  await shot('06-from-google');
});

test('an all-day appointment, then deleting it', async () => {
  const { day } = await zoneNow();
  await page.click(`.slot[data-day="${day}"][data-hour="9"]`);
  await page.locator('#modal').waitFor({ state: 'visible' });
  await page.fill('#f-title', 'Feria inmobiliaria');
  await page.check('#f-allday');
  assert.equal(await page.getAttribute('#f-start', 'type'), 'date');
  await page.selectOption('#f-type', 'Viaje');
  await page.click('#save');
  const appt = page.locator(`.allday[data-day="${day}"] .appt[data-title="Feria inmobiliaria"]`);
  await appt.waitFor();
  const ev = await until('the all-day event in Google', async () => {
    const r = await emu('GET', 'events');
    return r.items.find((e) => e.summary === 'Feria inmobiliaria' && e.status === 'confirmed');
  });
  assert.equal(ev.start.date, day);
  assert.ok(!ev.start.dateTime);
  await appt.click();
  await page.locator('#delete').waitFor({ state: 'visible' });
  await page.click('#delete'); // the confirmation dialog is accepted
  await appt.waitFor({ state: 'detached' });
  await until('the event cancelled in Google', async () => {
    const r = await emu('GET', 'events');
    return r.items.find((e) => e.summary === 'Feria inmobiliaria' && e.status === 'cancelled');
  });
});

test('week navigation', async () => {
  const label = await page.textContent('#weeklabel');
  await page.click('#next');
  await until('next week', async () => (await page.textContent('#weeklabel')) !== label);
  assert.equal(await page.locator('.appt[data-title="Visita Calle Luna 3"]').count(), 0);
  await page.click('#today');
  await until('this week', async () => (await page.textContent('#weeklabel')) === label);
  await page.locator('.appt[data-title="Visita Calle Luna 3"]').waitFor();
});

test('keyboard: a slot opens the modal with Enter', async () => {
  const { day } = await zoneNow();
  await page.focus(`.slot[data-day="${day}"][data-hour="16"]`);
  await page.keyboard.press('Enter');
  await page.locator('#modal').waitFor({ state: 'visible' });
  assert.equal(await page.evaluate(() => document.activeElement.id), 'f-title');
  await page.keyboard.press('Escape');
  await page.locator('#modal').waitFor({ state: 'hidden' });
});

test('sync now, syncing, error and retry', async () => {
  // a slow Google: the spinner shows while the sync runs
  await emuQuiet();
  await emu('POST', 'faults', { kind: 'delay', ms: 2500, count: 1, method: 'GET', path: '/events' });
  await openPanel();
  await page.click('#syncnow');
  await until('syncing', async () => (await page.textContent('#intstate')) === 'Sincronizando…');
  assert.ok(await page.locator('#intbadge .spinner').isVisible());
  await shot('07-syncing');
  await until('sync toast', async () => /Sincronizado/.test((await page.textContent('#toast')) || ''));
  await shot('08-sync-now');
  // Google refuses: the error and its reason show, with Retry
  await emuQuiet();
  await emu('POST', 'faults', { status: 400, reason: 'badRequest', count: 1, method: 'GET', path: '/events' });
  await openPanel();
  await page.click('#syncnow');
  await until('error state', async () => (await page.textContent('#intstate')) === 'Error');
  await openPanel();
  assert.ok(await page.locator('#retry').isVisible());
  assert.match(await page.textContent('#interror'), /400/);
  await shot('09-error');
  await page.click('#retry');
  await until('connected again', async () => (await page.textContent('#intstate')) === 'Conectado');
  await page.keyboard.press('Escape');
});

test('the sync direction setting', async () => {
  await openPanel();
  // the default, and the four choices, each labelled
  assert.equal(await dirShown(), 'bidirectional');
  assert.equal((await savedSettings()).syncDirection, 'bidirectional');
  for (const [name, value] of [['Ambos sentidos', 'bidirectional'], ['Solo de Vesta a Google', 'vesta_to_google'],
    ['Solo de Google a Vesta', 'google_to_vesta'], [/^En pausa/, 'none']])
    assert.equal(await dirRadio(name).getAttribute('value'), value);
  // a choice is saved at once, with a PATCH of that setting alone, and is there after a reload
  const patch = page.waitForRequest((r) => r.method() === 'PATCH' && r.url().endsWith('/api/settings'));
  await dirRadio('Solo de Vesta a Google').check();
  assert.deepEqual((await patch).postDataJSON(), { syncDirection: 'vesta_to_google' });
  await until('saved', async () => (await savedSettings()).syncDirection === 'vesta_to_google');
  assert.doesNotMatch(await page.textContent('#intstate'), /pausa/);
  await page.reload();
  await page.locator('#grid .daycol').first().waitFor();
  await openPanel();
  await until('the saved choice shown', async () => (await dirShown()) === 'vesta_to_google');
  // paused: the status says so, on the button and in the menu
  await dirRadio(/^En pausa/).check();
  await until('paused in the status', async () => (await page.textContent('#intstate')) === 'Conectado · en pausa');
  assert.match(await page.textContent('#intdetail'), /^Conectado · sincronización en pausa · /);
  const st = await page.evaluate(async () => (await fetch('/api/google/calendar/status')).json());
  assert.equal(st.syncDirection, 'none');
  assert.equal(st.paused, true);
  await shot('09b-sync-paused');
  // the server refuses: its reason shows and the choice goes back to the saved one (focus on it)
  await page.route('**/api/settings', (route) => (route.request().method() === 'PATCH'
    ? route.fulfill({ status: 400, contentType: 'application/json', body: JSON.stringify({ error: 'syncDirection refused by the test' }) })
    : route.fallback()));
  await dirRadio('Solo de Google a Vesta').click();
  await page.locator('#direrror').waitFor({ state: 'visible' });
  assert.match(await page.textContent('#direrror'), /No se pudo cambiar.*syncDirection refused by the test/);
  await until('the saved choice back', async () => (await dirShown()) === 'none');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'dir-none');
  assert.equal((await savedSettings()).syncDirection, 'none');
  await shot('09c-sync-direction-refused');
  await page.unroute('**/api/settings');
  // resumed: the pause leaves the status, the error the menu
  await dirRadio('Ambos sentidos').check();
  await until('resumed', async () => (await page.textContent('#intstate')) === 'Conectado');
  assert.ok(await page.locator('#direrror').isHidden());
  assert.equal((await savedSettings()).syncDirection, 'bidirectional');
  await page.keyboard.press('Escape');
});

test('Google to Vesta only: an appointment made here waits, and goes once both ways again', async () => {
  const { account } = await emu('GET', 'config');
  const live = async (title) => (await emu('GET', `events?account=${encodeURIComponent(account)}`)).items
    .filter((e) => e.summary === title && e.status !== 'cancelled');
  await openPanel();
  await dirRadio('Solo de Google a Vesta').check();
  await until('saved', async () => (await savedSettings()).syncDirection === 'google_to_vesta');
  await page.keyboard.press('Escape');
  const { day } = await zoneNow();
  await page.click(`.slot[data-day="${day}"][data-hour="14"]`);
  await page.locator('#modal').waitFor({ state: 'visible' });
  await page.fill('#f-title', 'Visita Calle Sol 7');
  await page.click('#save');
  const appt = page.locator('.appt[data-title="Visita Calle Sol 7"]');
  await appt.waitFor();
  // Sync now runs (Google's side comes in) and this appointment does not go out
  await emuQuiet();
  await openPanel();
  const synced = page.waitForResponse((r) => r.url().endsWith('/api/google/calendar/sync'));
  await page.click('#syncnow');
  const res = await synced;
  assert.equal(res.status(), 200); // the sync ran to its end (202 would be: still running)
  assert.equal((await res.json()).success, true);
  await until('connected after the sync', async () => (await page.textContent('#intstate')) === 'Conectado');
  await emuQuiet();
  assert.deepEqual(await live('Visita Calle Sol 7'), []);
  assert.notEqual(await appt.getAttribute('data-sync'), 'synced');
  // both ways again: it goes to Google, once
  await openPanel();
  await dirRadio('Ambos sentidos').check();
  await until('the event in Google', async () => (await live('Visita Calle Sol 7')).length > 0);
  await emuQuiet();
  assert.equal((await live('Visita Calle Sol 7')).length, 1);
  await until('synced mark', async () => (await appt.getAttribute('data-sync')) === 'synced', 25000);
  await page.keyboard.press('Escape');
});

test('disconnect keeps the local appointments', async () => {
  await openPanel();
  await page.click('#disconnect');
  await until('not connected', async () => (await page.textContent('#intstate')) === 'No conectado');
  assert.match(await page.textContent('#toast'), /conservan|kept|desconect/i);
  await page.locator('.appt[data-title="Visita Calle Luna 3"]').waitFor();
  await page.locator('.appt[data-title="Firma en notaría (Google)"]').waitFor();
  await shot('10-disconnected');
  await page.keyboard.press('Escape');
});

test('a revoked grant asks to reconnect', async () => {
  await openPanel();
  await page.click('#connect');
  await page.waitForURL(/\/calendario/);
  await until('connected', async () => (await page.textContent('#intstate')) === 'Conectado');
  // reconnecting re-linked everything: no twins on either side
  await page.waitForTimeout(1500);
  assert.equal(await page.locator('.appt[data-title="Firma en notaría (Google)"]').count(), 1);
  const live = (await emu('GET', 'events')).items.filter((e) => e.status !== 'cancelled');
  assert.equal(live.filter((e) => e.summary === 'Firma en notaría (Google)').length, 1);
  assert.equal(live.filter((e) => e.summary === 'Visita Calle Luna 3').length, 1);
  await emu('POST', 'tokens/revoke', {});
  await emu('POST', 'tokens/expire', {});
  await openPanel();
  await page.click('#syncnow');
  await until('reauth', async () => (await page.textContent('#intstate')) === 'Reconexión necesaria');
  await openPanel();
  assert.ok(await page.locator('#reconnect').isVisible());
  assert.ok(await page.locator('#interror').isVisible());
  await shot('11-reauth-required');
  await page.keyboard.press('Escape');
});

test('switch to a dedicated Vesta calendar', async () => {
  await openPanel();
  await page.click('#disconnect');
  await until('not connected', async () => (await page.textContent('#intstate')) === 'No conectado');
  await openPanel();
  await page.click('#connect-vesta');
  await page.waitForURL(/\/calendario/);
  await until('connected', async () => (await page.textContent('#intstate')) === 'Conectado');
  await openPanel();
  assert.match(await page.textContent('#intdetail'), /calendario «Vesta»/);
  const cals = (await emu('GET', 'calendars')).items.filter((c) => !c.primary);
  assert.equal(cals.length, 1);
  assert.equal(cals[0].summary, 'Vesta');
  await until('the appointments on the Vesta calendar', async () => {
    const r = await emu('GET', `events?calendar=${encodeURIComponent(cals[0].id)}`);
    return r.items.find((e) => e.summary === 'Visita Calle Luna 3' && e.colorId === '9');
  });
  await shot('11b-vesta-calendar');
  await page.keyboard.press('Escape');
});

test('phone width', async () => {
  await page.setViewportSize(PHONE);
  await page.reload();
  await page.locator('#grid .daycol').first().waitFor();
  assert.ok(await page.locator('#intbtn').isVisible());
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px`);
  // one day at a time, with previous / next by one day
  assert.equal(await page.locator('#grid .daycol').count(), 1);
  const { day } = await zoneNow();
  assert.equal(await page.getAttribute('#grid .daycol', 'data-day'), day);
  const gridOverflow = await page.evaluate(() => { const c = document.getElementById('calendar'); return c.scrollWidth - c.clientWidth; });
  assert.ok(gridOverflow <= 0, `the day scrolls sideways by ${gridOverflow}px`);
  await page.locator('.appt[data-title="Visita Calle Luna 3"]').waitFor();
  await shot('12-phone');
  await page.click('#next');
  await until('the next day', async () => (await page.getAttribute('#grid .daycol', 'data-day')) !== day);
  await page.click('#prev');
  await until('today again', async () => (await page.getAttribute('#grid .daycol', 'data-day')) === day);
  await shot('13-phone-day');
  // back to a wide screen: the week again (on a Monday, as NOW is, it starts on the day shown)
  await page.setViewportSize(WIDE);
  await until('the week', async () => (await page.locator('#grid .daycol').count()) === 7);
  await showing('the week', weekFrom(mondayOf(day)));
  await page.locator('.appt[data-title="Visita Calle Luna 3"]').waitFor();
  // and narrow again: today alone
  await page.setViewportSize(PHONE);
  await showing('today', [day]);
});

// The phone's day and the week it widens to (and back), whatever the day and the appointments:
// the page's clock fixed at each instant, given with Madrid's offset (the browser is in New York)
test('phone and wide on any day', async () => {
  const cases = [
    // the page's clock, the day a phone shows, the Monday of its week
    ['2026-12-14T09:30:00+01:00', '2026-12-14', '2026-12-14'], // a Monday, a week without appointments
    ['2026-12-10T09:30:00+01:00', '2026-12-10', '2026-12-07'], // a Thursday
    ['2026-12-06T23:45:00+01:00', '2026-12-06', '2026-11-30'], // Sunday night, a week across two months
    ['2026-12-08T00:30:00+01:00', '2026-12-08', '2026-12-07'], // Tuesday in Madrid, still Monday in UTC and New York
    ['2027-01-01T00:30:00+01:00', '2027-01-01', '2026-12-28'], // 2027 in Madrid, 2026 in UTC and New York
    ['2026-10-25T23:30:00+01:00', '2026-10-25', '2026-10-19'], // the Sunday summer time ends
    ['2026-03-30T00:30:00+02:00', '2026-03-30', '2026-03-30'], // the Monday after it starts, Sunday in UTC
  ];
  for (const [at, day, monday] of cases) {
    await page.clock.setFixedTime(at);
    await page.setViewportSize(PHONE);
    await page.reload();
    await showing(`${at}: the day`, [day]);
    await page.click('#next');
    await showing(`${at}: the next day`, [addDays(day, 1)]);
    await page.click('#prev');
    await showing(`${at}: the day again`, [day]);
    await page.setViewportSize(WIDE);
    await showing(`${at}: the week`, weekFrom(monday));
    assert.equal(await todayMark(), dm(day), at);
    await page.setViewportSize(PHONE);
    await showing(`${at}: the day from the week`, [day]);
  }
});

test('midnight in Madrid moves today', async () => {
  await page.clock.setFixedTime('2026-12-07T23:59:50+01:00');
  await page.setViewportSize(WIDE);
  await page.reload();
  await showing('the week', weekFrom('2026-12-07'));
  assert.equal(await todayMark(), dm('2026-12-07'));
  // the page stays open past midnight: its next poll moves the mark (same week, same appointments)
  await page.clock.setFixedTime('2026-12-08T00:00:10+01:00');
  await page.clock.runFor(20000);
  await until('the mark on Tuesday', async () => (await todayMark()) === dm('2026-12-08'));
  // on a phone, the next midnight, Hoy goes to the new day
  await page.setViewportSize(PHONE);
  await showing('Tuesday', ['2026-12-08']);
  await page.clock.setFixedTime('2026-12-09T00:00:10+01:00');
  await page.click('#today');
  await showing('Wednesday', ['2026-12-09']);
  assert.equal(await todayMark(), dm('2026-12-09'));
});

test('the weeks clocks change in Madrid', async () => {
  // created as the page sends them (the server stores these instants whatever its own clock says)
  const add = (title, start, end) => page.evaluate(async (b) => (await fetch('/api/appointments', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(b),
  })).status, { title, type: 'Visita', status: 'Scheduled', allDay: false, start, end, location: '', description: '' });
  const box = (title) => page.$eval(`.appt[data-title="${title}"]`, (b) => ({ day: b.closest('.daycol').dataset.day, top: parseFloat(b.style.top), height: parseFloat(b.style.height) }));
  const hour = await page.evaluate(() => parseFloat(getComputedStyle(document.documentElement).getPropertyValue('--hour')));
  // the week of Sunday 2026-10-25, when 03:00 summer time is 02:00 again
  assert.equal(await add('Lunes de verano', '2026-10-19T10:00:00+02:00', '2026-10-19T11:00:00+02:00'), 201);
  assert.equal(await add('Domingo de invierno', '2026-10-25T10:00:00+01:00', '2026-10-25T11:00:00+01:00'), 201);
  assert.equal(await add('Noche del cambio', '2026-10-25T01:00:00+02:00', '2026-10-25T04:00:00+01:00'), 201);
  assert.equal(await add('Domingo tarde', '2026-10-25T23:00:00+01:00', '2026-10-25T23:45:00+01:00'), 201);
  await page.clock.setFixedTime('2026-10-21T12:00:00+02:00');
  await page.setViewportSize(WIDE);
  await page.reload();
  await showing('the week', weekFrom('2026-10-19'));
  assert.equal(await page.textContent('#weeklabel'), '19/10 – 25/10/2026');
  await page.locator('.appt[data-title="Domingo tarde"]').waitFor(); // the week ends at Monday 00:00 winter time
  assert.deepEqual(await box('Lunes de verano'), { day: '2026-10-19', top: 10 * hour, height: hour - 2 });
  assert.deepEqual(await box('Domingo de invierno'), { day: '2026-10-25', top: 10 * hour, height: hour - 2 });
  // four hours long, three on the clock: drawn from the 01:00 line to the 04:00 one
  assert.deepEqual(await box('Noche del cambio'), { day: '2026-10-25', top: hour, height: 3 * hour - 2 });
  assert.deepEqual(await box('Domingo tarde'), { day: '2026-10-25', top: 23 * hour, height: 0.75 * hour - 2 });
  // the week of Sunday 2026-03-29, when 02:00 winter time is 03:00: that day has no 02:00
  assert.equal(await add('Noche sin las dos', '2026-03-29T01:00:00+01:00', '2026-03-29T04:00:00+02:00'), 201);
  await page.clock.setFixedTime('2026-03-25T12:00:00+01:00');
  await page.reload();
  await showing('the week', weekFrom('2026-03-23'));
  await page.locator('.appt[data-title="Noche sin las dos"]').waitFor();
  assert.deepEqual(await box('Noche sin las dos'), { day: '2026-03-29', top: hour, height: 3 * hour - 2 });
  await page.focus('.slot[data-day="2026-03-29"][data-hour="2"]'); // under "Noche sin las dos"
  await page.keyboard.press('Enter');
  await page.locator('#modal').waitFor({ state: 'visible' });
  assert.equal(await page.inputValue('#f-start'), '2026-03-29T03:00');
  assert.equal(await page.inputValue('#f-end'), '2026-03-29T04:00');
  await page.keyboard.press('Escape');
  await page.locator('#modal').waitFor({ state: 'hidden' });
});
