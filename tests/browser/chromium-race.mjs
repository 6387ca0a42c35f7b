// Chromium alone, no qrpair: how often is a message sent from the `open`
// handler of a channel the other side opened lost? Two RTCPeerConnections
// in one page: pc1 opens a channel, pc2 receives it (ondatachannel) and
// sends at once in onopen, as a plain page does; pc1 counts what arrives.
// Figures in vendor/QRPAIR-PATCH.md.
//
// usage: node chromium-race.mjs [RUNS]
import { chromium } from 'playwright-core';
const N = Number(process.argv[2] || 1000);
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--allow-loopback-in-peer-connection'] });
let page = null;
let lost = 0, errs = 0;
for (let i = 0; i < N; i++) {
  // Closed connections linger until collected: a fresh page every 100.
  if (i % 100 === 0) { if (page) await page.close(); page = await browser.newPage(); await page.goto('about:blank'); }
  const r = await page.evaluate(async () => {
    const pc1 = new RTCPeerConnection(), pc2 = new RTCPeerConnection();
    pc1.onicecandidate = (e) => e.candidate && pc2.addIceCandidate(e.candidate);
    pc2.onicecandidate = (e) => e.candidate && pc1.addIceCandidate(e.candidate);
    const dc1 = pc1.createDataChannel('x');
    let got = false, opened = false;
    dc1.onmessage = () => { got = true; };
    pc2.ondatachannel = (e) => {
      const dc = e.channel;
      dc.onopen = () => {
        opened = true;
        dc.send('hi');
      };
    };
    await pc1.setLocalDescription(); await pc2.setRemoteDescription(pc1.localDescription);
    await pc2.setLocalDescription(); await pc1.setRemoteDescription(pc2.localDescription);
    const t0 = performance.now();
    while (!got && performance.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 10));
    let sent = null;
    for (const s of (await pc2.getStats()).values()) if (s.type === 'data-channel') sent = s.messagesSent;
    pc1.close(); pc2.close();
    return { got, opened, sent };
  });
  if (!r.opened) errs++;
  else if (!r.got) { lost++; console.log(`run ${i}: lost (messagesSent=${r.sent})`); }
}
console.log(`chromium alone: ${lost} of ${N} first messages lost (messagesSent 0: never left Chromium), ${errs} never opened`);
await browser.close();
