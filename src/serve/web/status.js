// src/serve/web/status.js - polls /v2/gpulet/plan and /v2/models/stats once a second and draws
// the devices' gpu-lets, the models' numbers and the plan's history. Plain JS, no build step.
'use strict';

const POLL_MS = 1000;
let prev = null; // {t, counts: {model: requests seen}} for the rate when the plan has none

function esc(s) {
  return String(s).replace(/[&<>"']/g, c => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c]));
}
function num(v, digits) {
  if (v === null || v === undefined || Number.isNaN(v)) return '-';
  return Number(v).toFixed(digits);
}
function pct(v) { return v === null || v === undefined ? '-' : (100 * v).toFixed(1) + '%'; }

// The plan in the form of CONTRACTS.md section 2; the older form ({"gpulets":[{model, kind, units,
// share, cpus, max_batch, slo_ms, queued}]}, one entry per model) is converted to it: entries on
// the same CPUs (models sharing a partition) become one gpu-let with several members.
function normalise(p) {
  if (Array.isArray(p.devices)) return p;
  const entries = p.gpulets || [];
  let total = 0;
  for (const g of entries) if (g.share > 0) { total = Math.round(g.units / g.share); break; }
  const lets = [], byCpus = {}, models = [];
  for (const g of entries) {
    const key = (g.kind || '') + ':' + (g.cpus || []).join(',');
    let l = byCpus[key];
    if (!l) {
      l = byCpus[key] = {id: lets.length, units: g.units, share: g.share, cpus: g.cpus, state: 'serving', members: []};
      lets.push(l);
    }
    l.members.push({model: g.model, batch: g.max_batch});
    models.push({name: g.model, slo_ms: g.slo_ms, queued: g.queued, gpulets: [l.id]});
  }
  return {
    policy: p.policy, epoch: p.epoch, uptime_s: p.uptime_s, decision_ms: p.decision_ms, feasible: p.feasible,
    devices: [{id: 0, kind: 'cpu', name: 'CPU', unit: 'core', units: total, gpulets: lets}],
    models, history: p.history || [],
  };
}

function drawSummary(p) {
  document.getElementById('policy').textContent = p.policy || '-';
  document.getElementById('epoch').textContent = p.epoch === undefined ? '-' : p.epoch;
  document.getElementById('uptime').textContent = p.uptime_s === undefined ? '-' : num(p.uptime_s, 1) + ' s';
  document.getElementById('decision').textContent = p.decision_ms === undefined ? '-' : num(p.decision_ms, 2) + ' ms';
  document.getElementById('feasible').textContent = p.feasible === undefined ? '-' : (p.feasible ? 'yes' : 'no');
  document.getElementById('why').textContent = p.why || '';
}

function drawDevices(p) {
  let h = '';
  for (const d of p.devices || []) {
    const total = d.units || 0;
    const lets = d.gpulets || [];
    let used = 0, blocks = '';
    for (const g of lets) {
      const share = g.share !== undefined ? g.share : (total ? g.units / total : 0);
      used += share;
      const members = (g.members || []).map(m => `<b>${esc(m.model)}</b> &times;${esc(m.batch)}`).join(', ');
      const title = (g.members || []).map(m => `${m.model}: batch ${m.batch}` +
        (m.rate !== undefined ? `, ${num(m.rate, 1)} req/s` : '') +
        (m.predicted_ms !== undefined ? `, predicted ${num(m.predicted_ms, 2)} ms` : '') +
        (m.observed_ms !== undefined && m.observed_ms !== null ? `, observed ${num(m.observed_ms, 2)} ms` : '')).join('\n');
      const cpus = Array.isArray(g.cpus) && g.cpus.length ? ` (cpu ${g.cpus.map(esc).join(',')})` : '';
      blocks += `<div class="let ${esc(g.state || 'serving')}" data-let="${esc(g.id)}" data-share="${share}" ` +
           `style="flex: 0 1 ${(100 * share).toFixed(3)}%" title="${esc(title)}">` +
           `${members}<br>${esc(g.units)} ${esc(d.unit || 'unit')}${g.units === 1 ? '' : 's'}${cpus} &middot; ${esc(g.state || 'serving')}` +
           (g.occupancy !== undefined ? ` &middot; ${pct(g.occupancy)} busy` : '') + `</div>`;
    }
    const failed = d.state === 'failed';
    if (used < 0.999) blocks += failed ? `<div class="let failed" style="flex: 1 1 auto">device failed</div>`
                                       : `<div class="let free" style="flex: 1 1 auto">free</div>`;
    // gpu-lets sharing units (a static split with more models than units) add up to over 100%
    const over = used > 1.001 ? ` &middot; <span class="over">${(100 * used).toFixed(0)}% of the device: gpu-lets share units</span>` : '';
    h += `<div class="device" data-device="${esc(d.id)}"><h3>${esc(d.kind || '')} ${esc(d.id)} <span>${esc(d.name || '')}` +
         ` &middot; ${esc(total)} ${esc(d.unit || 'unit')}s &middot; ${lets.length} gpu-let${lets.length === 1 ? '' : 's'}${over}` +
         (d.fallback ? ' &middot; fallback' : '') +
         (failed ? ` &middot; <span class="over">failed: ${esc(d.why || '')}</span>` : '') + `</span></h3>` +
         `<div class="bar">${blocks}</div></div>`;
  }
  document.getElementById('devices').innerHTML = h || '<p class="note">No device in the plan.</p>';
}

function drawModels(p, stats, rates) {
  const by = {};
  for (const m of stats.model_stats || []) by[m.name] = m;
  const rows = [];
  const names = new Set();
  for (const pm of p.models || []) {
    names.add(pm.name);
    rows.push([pm, by[pm.name] || {}]);
  }
  for (const n of Object.keys(by)) if (!names.has(n)) rows.push([{name: n}, by[n]]);
  let h = '';
  for (const [pm, st] of rows) {
    const g = st.gpulet || {};
    const ok = (st.inference_stats && st.inference_stats.success) ? st.inference_stats.success.count : 0;
    const rejected = (g.rejected_early || 0) + (g.rejected_queue_full || 0);
    const rate = pm.rate_observed !== undefined ? pm.rate_observed : rates[pm.name];
    const target = pm.percentile ? pm.percentile / 100 : 0.99;
    const cls = g.slo_attain === null || g.slo_attain === undefined ? '' : (g.slo_attain >= target ? 'good' : 'bad');
    h += `<tr data-model="${esc(pm.name)}" data-success="${ok}" data-rejected="${rejected}">` +
         `<td class="l">${esc(pm.name)}</td><td>${num(pm.slo_ms, 0)}</td><td class="rate">${num(rate, 1)}</td>` +
         `<td class="p50">${num(g.p50_ms, 2)}</td><td class="p99">${num(g.p99_ms, 2)}</td><td class="p999">${num(g.p999_ms, 2)}</td>` +
         `<td class="attain ${cls}">${pct(g.slo_attain)}</td><td class="queued">${pm.queued === undefined ? '-' : esc(pm.queued)}</td>` +
         `<td class="success">${ok}</td><td class="rejected">${rejected}</td>` +
         `<td class="l">${esc((pm.gpulets || []).join(', '))}</td></tr>`;
    if (g.window_s) document.getElementById('window').textContent = g.window_s;
  }
  document.querySelector('#models tbody').innerHTML = h;
}

function drawHistory(p) {
  const hist = (p.history || []).slice().reverse();
  let h = '';
  for (const e of hist) {
    h += `<tr data-epoch="${esc(e.epoch)}"><td>${esc(e.epoch)}</td><td>${num(e.t_s, 1)}</td><td class="l">${esc(e.reason || '')}</td>` +
         `<td class="l">${e.incremental ? 'incremental' : 'full'}</td><td>${esc(e.lets_built ?? '-')}</td>` +
         `<td>${esc(e.lets_kept ?? '-')}</td><td>${esc(e.lets_reconfigured ?? '-')}</td><td>${esc(e.lets_retired ?? '-')}</td>` +
         `<td>${num(e.decision_ms, 2)}</td><td>${num(e.switch_ms, 1)}</td></tr>`;
  }
  document.querySelector('#history tbody').innerHTML = h;
  document.getElementById('nohistory').style.display = hist.length ? 'none' : '';
  document.getElementById('history').style.display = hist.length ? '' : 'none';
}

// requests per second from the change in each model's request count since the last poll
function observedRates(stats) {
  const now = performance.now(), counts = {}, rates = {};
  for (const m of stats.model_stats || []) {
    const is = m.inference_stats || {};
    counts[m.name] = (is.success ? is.success.count : 0) + (is.fail ? is.fail.count : 0);
    if (prev && prev.counts[m.name] !== undefined && now > prev.t)
      rates[m.name] = Math.max(0, (counts[m.name] - prev.counts[m.name]) * 1000 / (now - prev.t));
  }
  prev = {t: now, counts};
  return rates;
}

async function getJson(url) {
  const r = await fetch(url, {cache: 'no-store'});
  if (!r.ok) throw new Error(url + ': HTTP ' + r.status);
  return r.json();
}

async function tick() {
  const conn = document.getElementById('conn');
  try {
    const [plan, stats] = await Promise.all([getJson('/v2/gpulet/plan'), getJson('/v2/models/stats')]);
    const p = normalise(plan);
    drawSummary(p);
    drawDevices(p);
    drawModels(p, stats, observedRates(stats));
    drawHistory(p);
    conn.textContent = 'updated ' + new Date().toLocaleTimeString();
    conn.className = 'conn';
    document.body.dataset.polls = String(Number(document.body.dataset.polls || 0) + 1);
  } catch (e) {
    conn.textContent = 'no answer from the server: ' + e.message;
    conn.className = 'conn err';
  }
  setTimeout(tick, POLL_MS);
}

tick();
