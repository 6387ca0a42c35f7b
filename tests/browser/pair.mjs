// Pairs headless Chromium with qrpair in both directions, through the
// browser's own JSON descriptions (--sdp-json) and through qrpair's compact
// QR form (converted with `qrpair encode` / `qrpair decode --sdp`), and
// checks that chat lines flow both ways.
//
// usage: node pair.mjs <path-to-qrpair> <work-dir>
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { writeFileSync, renameSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';

const [qrpair, work] = process.argv.slice(2);
if (!qrpair || !work) {
  console.error('usage: node pair.mjs <qrpair> <work-dir>');
  process.exit(2);
}
const STEP_MS = 30_000;

function writeAtomic(path, text) {
  writeFileSync(path + '.tmp', text);
  renameSync(path + '.tmp', path);
}

// A qrpair process with its stdin kept open (chat input) and its output
// collected; `waitFor` resolves once stderr or stdout matches.
function start(args, name) {
  const child = spawn(qrpair, args, { cwd: work, stdio: ['pipe', 'pipe', 'pipe'] });
  const state = { child, stdout: '', stderr: '', exit: null, name };
  child.stdout.on('data', (d) => (state.stdout += d));
  child.stderr.on('data', (d) => (state.stderr += d));
  state.exited = new Promise((resolve) => child.on('exit', (code) => { state.exit = code; resolve(code); }));
  state.waitFor = async (stream, re) => {
    const start = Date.now();
    for (;;) {
      const m = state[stream].match(re);
      if (m) return m;
      if (state.exit !== null) throw new Error(`${name} exited ${state.exit} before printing ${re}:\n${state.stderr}`);
      if (Date.now() - start > STEP_MS) throw new Error(`${name} never printed ${re} on ${stream}:\n${state.stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return state;
}

const JSON_LINE = (type) => new RegExp(`^(\\{"type":"${type}".*\\})$`, 'm');

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    // The test network is loopback only; Chromium ignores loopback unless told.
    '--allow-loopback-in-peer-connection',
  ],
});

async function newPeerPage() {
  const page = await browser.newPage();
  await page.goto('about:blank');
  await page.evaluate(() => {
    window.received = [];
    window.state = 'new';
    window.wire = (dc) => {
      window.dc = dc;
      dc.onmessage = (e) => window.received.push(typeof e.data === 'string' ? e.data : new TextDecoder().decode(e.data));
      dc.onopen = () => { window.state = 'open'; dc.send('hello from the browser'); };
      dc.onclose = () => { window.state = 'closed'; };
    };
    window.gathered = (pc) => new Promise((resolve) => {
      if (pc.iceGatheringState === 'complete') return resolve();
      pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && resolve();
    });
  });
  return page;
}

// The plain browser flow the issue names: createDataChannel, createOffer,
// setLocalDescription, wait for gathering, JSON.stringify.
async function browserOffer(page) {
  return page.evaluate(async () => {
    const pc = new RTCPeerConnection();
    window.pc = pc;
    window.wire(pc.createDataChannel('chat'));
    await pc.setLocalDescription(await pc.createOffer());
    await window.gathered(pc);
    return JSON.stringify(pc.localDescription);
  });
}

async function browserAnswer(page, offer) {
  return page.evaluate(async (offer) => {
    const pc = new RTCPeerConnection();
    window.pc = pc;
    pc.ondatachannel = (e) => window.wire(e.channel);
    await pc.setRemoteDescription(offer);
    await pc.setLocalDescription(await pc.createAnswer());
    await window.gathered(pc);
    return JSON.stringify(pc.localDescription);
  }, offer);
}

async function expectChat(page, q, label) {
  q.child.stdin.write('hello from qrpair\n');
  const start = Date.now();
  for (;;) {
    const got = await page.evaluate(() => window.received.slice());
    if (got.includes('hello from qrpair') && q.stdout.includes('peer> hello from the browser')) break;
    if (q.exit !== null) throw new Error(`${label}: qrpair exited ${q.exit}:\n${q.stderr}`);
    if (Date.now() - start > STEP_MS) {
      throw new Error(`${label}: messages did not cross (browser got ${JSON.stringify(got)}, qrpair printed ${JSON.stringify(q.stdout)}):\n${q.stderr}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  // The browser leaves; qrpair must notice and exit 0.
  await page.evaluate(() => { window.dc.close(); window.pc.close(); });
  const code = await Promise.race([q.exited, new Promise((r) => setTimeout(() => r('timeout'), STEP_MS))]);
  if (code !== 0) throw new Error(`${label}: qrpair ended with ${code} after the browser left:\n${q.stderr}`);
  if (!q.stdout.includes('-- the peer left the chat')) throw new Error(`${label}: no farewell in ${JSON.stringify(q.stdout)}`);
  console.log(`ok - ${label}`);
}

const common = ['--chat', '--bind', '127.0.0.1', '--timeout', '60s'];
const decodeSdp = (png) => execFileSync(qrpair, ['decode', '--sdp', png], { cwd: work }).toString();
const encode = (src, png) => execFileSync(qrpair, ['encode', src, '--qr-out', png], { cwd: work, stdio: ['ignore', 'ignore', 'pipe'] });

// 1. Browser offers, qrpair answers, both through the browser's JSON.
{
  const page = await newPeerPage();
  writeFileSync(join(work, 'b1-offer.json'), await browserOffer(page));
  const q = start(['answer', 'b1-offer.json', '--sdp-json', '--qr-out', 'b1-answer.png', ...common], 'answerer');
  const [, answer] = await q.waitFor('stderr', JSON_LINE('answer'));
  await page.evaluate((a) => window.pc.setRemoteDescription(JSON.parse(a)), answer);
  await expectChat(page, q, 'browser offers, qrpair answers (JSON)');
  await page.close();
}

// 2. qrpair offers, browser answers, both through the browser's JSON.
{
  const page = await newPeerPage();
  const q = start(['offer', '--sdp-json', '--qr-out', 'b2-offer.png', '--answer', 'b2-answer.json', ...common], 'offerer');
  const [, offer] = await q.waitFor('stderr', JSON_LINE('offer'));
  writeAtomic(join(work, 'b2-answer.json'), await browserAnswer(page, JSON.parse(offer)));
  await expectChat(page, q, 'qrpair offers, browser answers (JSON)');
  await page.close();
}

// 3. Browser offers through the compact QR: its JSON becomes a qrpair QR,
//    qrpair answers from that picture, and the browser applies the SDP
//    rebuilt from qrpair's compact answer QR.
{
  const page = await newPeerPage();
  writeFileSync(join(work, 'b3-offer.json'), await browserOffer(page));
  encode('b3-offer.json', 'b3-offer.png');
  const q = start(['answer', 'b3-offer.png', '--qr-out', 'b3-answer.png', ...common], 'answerer');
  await q.waitFor('stderr', /token: qrp:/);
  const sdp = decodeSdp('b3-answer.png');
  await page.evaluate((sdp) => window.pc.setRemoteDescription({ type: 'answer', sdp }), sdp);
  await expectChat(page, q, 'browser offers, qrpair answers (compact QR)');
  await page.close();
}

// 4. qrpair offers through its compact QR; the browser applies the rebuilt
//    SDP, and its answer JSON becomes a compact QR that qrpair reads.
{
  const page = await newPeerPage();
  const q = start(['offer', '--qr-out', 'b4-offer.png', '--answer', 'b4-answer.png', ...common], 'offerer');
  await q.waitFor('stderr', /token: qrp:/);
  const sdp = decodeSdp('b4-offer.png');
  writeFileSync(join(work, 'b4-answer.json'), await browserAnswer(page, { type: 'offer', sdp }));
  encode('b4-answer.json', 'b4-answer.png');
  await expectChat(page, q, 'qrpair offers, browser answers (compact QR)');
  await page.close();
}

await browser.close();
console.log('all browser pairings ok');
