// Drives Debian's chromium (headless, through puppeteer-core) against the
// live page for the shell tests: opens URL, then reads one JSON command per
// line on stdin and answers each with one JSON line on stdout, so a test can
// make connections between its steps and assert what the page shows.
//
//   node drive.mjs URL
//   {"op":"wait","until":"JS over s (the page's snapshot)","timeout_ms":15000}
//   {"op":"snapshot"}            the page's own state plus what the DOM shows
//   {"op":"filter","text":"..."} types into the filter box (clears it first)
//   {"op":"click","n":3}         clicks the node with data-n=3
//   {"op":"screenshot","path":"x.png"}
//   {"op":"quit"}
// Answers: {"ok":true,...} or {"ok":false,"error":"..."}.
import readline from 'node:readline';
import puppeteer from 'puppeteer-core';

const url = process.argv[2];
const chromium = process.env.NT_CHROMIUM || '/usr/bin/chromium';
const browser = await puppeteer.launch({
  executablePath: chromium,
  headless: true,
  // As root chromium refuses its sandbox; the page is our own, on loopback.
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run',
    '--window-size=1400,1000'],
  defaultViewport: { width: 1400, height: 1000 },
});
// puppeteer starts chromium in a process group of its own: the test kills
// that group at exit (tests/web/lib.sh), so a failed test leaves no browser.
if (process.env.NT_BROWSER_PIDFILE) {
  const fs = await import('node:fs');
  fs.writeFileSync(process.env.NT_BROWSER_PIDFILE, String(browser.process().pid) + '\n');
}
const page = await browser.newPage();
let loads = 0;
const consoleErrors = [];
page.on('load', () => { loads++; });
page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
page.on('pageerror', (e) => consoleErrors.push(String(e)));
// Any request that leaves the server under test is a failure: the page must
// need nothing from the network.
const origin = new URL(url).origin;
const foreign = [];
page.on('request', (r) => { if (!r.url().startsWith(origin) && !r.url().startsWith('data:')) foreign.push(r.url()); });
await page.goto(url, { waitUntil: 'domcontentloaded' });

// What the DOM shows, read back from the document itself (not the page's state).
async function dom() {
  return page.evaluate(() => {
    const shown = (e) => !e.closest('.hidden') && !e.closest('[hidden]');
    const nodes = [...document.querySelectorAll('#nodes-layer .node')].map((g) => ({
      n: Number(g.getAttribute('data-n')),
      label: g.querySelector('text.label').textContent,
      sub: g.querySelector('text.sub').textContent,
      title: g.querySelector('title').textContent,
      shown: shown(g),
      kind: g.getAttribute('class').split(' ')[1],
    }));
    const edges = [...document.querySelectorAll('#edges-layer .edge')].map((g) => ({
      from: Number(g.getAttribute('data-from')), to: Number(g.getAttribute('data-to')),
      port: Number(g.getAttribute('data-port')), text: g.querySelector('text').textContent, shown: shown(g),
    }));
    const rows = [...document.querySelectorAll('#table tbody tr')].map((r) => ({
      n: Number(r.getAttribute('data-n')), kind: r.className.split(' ')[0],
      cells: [...r.cells].map((c) => c.textContent), shown: shown(r),
    }));
    const details = document.getElementById('details');
    return {
      nodes, edges, rows,
      details: details.hidden ? null : {
        title: document.getElementById('details-title').textContent,
        facts: [...document.querySelectorAll('#details-facts dt')].map((dt) => [dt.textContent, dt.nextElementSibling.textContent]),
        conns: [...document.querySelectorAll('#details-conns tbody tr')].map((r) => [...r.cells].map((c) => c.textContent)),
      },
      lost: document.getElementById('lost').hidden ? null : document.getElementById('lost').textContent,
      header: document.querySelector('header').textContent.replace(/\s+/g, ' ').trim(),
      // Markup a name could have injected: the page itself makes none of these.
      injected: document.querySelectorAll('script:not([src="/app.js"]), img, iframe, object, embed, b, i, u, a, style, link:not([href="/style.css"]):not([href="/favicon.svg"])').length,
      pwned: window.__pwned || null,
    };
  });
}
async function snapshot() {
  const s = await page.evaluate(() => (window.ntPage && window.ntPage.snapshot) ? window.ntPage.snapshot() : null);
  return { state: s, dom: await dom(), loads, console_errors: consoleErrors, foreign_requests: foreign };
}

const rl = readline.createInterface({ input: process.stdin });
const say = (o) => process.stdout.write(JSON.stringify(o) + '\n');
for await (const line of rl) {
  if (!line.trim()) continue;
  let cmd;
  try { cmd = JSON.parse(line); } catch (e) { say({ ok: false, error: 'bad command: ' + e.message }); continue; }
  try {
    if (cmd.op === 'quit') { say({ ok: true }); break; }
    if (cmd.op === 'snapshot') { say({ ok: true, ...(await snapshot()) }); continue; }
    if (cmd.op === 'wait') {
      const until = new Function('s', 'return (' + cmd.until + ');');
      const deadline = Date.now() + (cmd.timeout_ms || 15000);
      let s, good = false;
      for (;;) {
        s = await snapshot();
        try { good = !!until(s); } catch { good = false; }
        if (good || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      say(good ? { ok: true, ...s } : { ok: false, error: 'timed out waiting for: ' + cmd.until, ...s });
      continue;
    }
    if (cmd.op === 'filter') {
      await page.click('#filter', { clickCount: 3 });
      await page.keyboard.press('Backspace');
      if (cmd.text) await page.type('#filter', cmd.text);
      say({ ok: true, ...(await snapshot()) });
      continue;
    }
    if (cmd.op === 'click') {
      const handle = await page.$(`#nodes-layer .node[data-n="${Number(cmd.n)}"]`);
      if (!handle) { say({ ok: false, error: 'no node ' + cmd.n }); continue; }
      await handle.click();
      say({ ok: true, ...(await snapshot()) });
      continue;
    }
    if (cmd.op === 'screenshot') {
      await page.screenshot({ path: cmd.path, fullPage: !!cmd.full });
      say({ ok: true, ...(await snapshot()) });
      continue;
    }
    say({ ok: false, error: 'unknown op ' + cmd.op });
  } catch (e) {
    say({ ok: false, error: String(e && e.message || e) });
  }
}
// A page with an open event stream can keep close() waiting: give it a
// moment, then end the browser's process group.
const closed = await Promise.race([browser.close().then(() => true), new Promise((r) => setTimeout(() => r(false), 5000))]);
if (!closed) {
  try { process.kill(-browser.process().pid, 'SIGKILL'); } catch { /* gone already */ }
}
process.exit(0);
