// The page: USE Lite + a new head + GIFT, trained by giftjs's own trainer (fineTuneClassifier, as
// `gift train --task seqcls` runs it) on the webgpu backend, with a live loss curve, held-out
// metrics and the adapter's files to download. window.giftDemo carries the run's state for tests.
import * as gift from './giftjs.mjs';

const $ = (id) => document.getElementById(id);
const MODEL_DIR = '/model';
const TARGETS = ['query', 'value'];
const state = (window.giftDemo = { ready: false, status: 'loading', losses: [], totalSteps: 0, validation: null, files: null, error: null, backend: '' });

function setStatus(text) {
  state.status = text;
  $('status').textContent = text;
}

async function chooseBackend() {
  try {
    const backend = gift.createWebGpuBackend(await gift.requestWebGpuDevice(navigator.gpu));
    gift.useBackend(backend);
    const info = backend.device.adapterInfo ?? {};
    const name = [info.vendor, info.architecture, info.description].filter(Boolean).join(' ');
    return `WebGPU${name ? ` (${name})` : ''}`;
  } catch (err) {
    gift.useBackend(gift.refBackend);
    return `the TypeScript CPU backend (slow): ${err.message}`;
  }
}

async function loadModel() {
  const names = await (await fetch('model/files.json')).json();
  const files = {};
  for (const name of names) files[name] = new Uint8Array(await (await fetch(`model/${encodeURIComponent(name)}`)).arrayBuffer());
  gift.mountFolder(MODEL_DIR, files);
}

/** "label<TAB>text" lines as records (what a TSV file with columns label and text gives gift train). */
function readRecords(text) {
  const records = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const tab = line.indexOf('\t');
    if (tab <= 0) throw new Error(`line ${i + 1}: expected "label<TAB>text"`);
    records.push({ where: `line ${i + 1}`, value: { label: line.slice(0, tab).trim(), text: line.slice(tab + 1) } });
  });
  return records;
}

function settings() {
  const num = (id) => Number($(id).value);
  return { rank: num('rank'), epochs: num('epochs'), batchSize: num('batch'), maxLength: num('maxLength'), lr: num('lr'), headLr: num('headLr'), heldOut: num('heldOut'), seed: num('seed') };
}

function drawCurve() {
  const canvas = $('curve');
  const ctx = canvas.getContext('2d');
  const { width: W, height: H } = canvas;
  const pad = { l: 70, r: 20, t: 30, b: 50 };
  ctx.clearRect(0, 0, W, H);
  ctx.font = '22px system-ui, sans-serif';
  ctx.fillStyle = '#1d232b';
  ctx.fillText('training loss', pad.l, 22);
  ctx.strokeStyle = '#b8c0c8';
  ctx.strokeRect(pad.l, pad.t, W - pad.l - pad.r, H - pad.t - pad.b);
  const ys = state.losses;
  if (ys.length === 0) return;
  const total = Math.max(state.totalSteps, ys.length, 2);
  const lo = Math.min(...ys, 0);
  const hi = Math.max(...ys) * 1.05 || 1;
  const x = (i) => pad.l + ((i + 1) / total) * (W - pad.l - pad.r);
  const y = (v) => pad.t + (1 - (v - lo) / (hi - lo)) * (H - pad.t - pad.b);
  ctx.fillStyle = '#58636f';
  ctx.fillText(hi.toFixed(2), 6, pad.t + 16);
  ctx.fillText(lo.toFixed(2), 6, H - pad.b);
  ctx.fillText(`step ${ys.length} / ${total}`, W - pad.r - 170, H - 14);
  ctx.strokeStyle = '#2f6db3';
  ctx.lineWidth = 3;
  ctx.beginPath();
  ys.forEach((v, i) => (i === 0 ? ctx.moveTo(x(i), y(v)) : ctx.lineTo(x(i), y(v))));
  ctx.stroke();
}

function offerDownloads(files) {
  const box = $('downloads');
  box.textContent = 'adapter: ';
  for (const [name, bytes] of Object.entries(files)) {
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([bytes], { type: name.endsWith('.json') ? 'application/json' : 'application/octet-stream' }));
    a.download = name;
    a.textContent = name;
    a.className = 'download';
    box.append(a);
  }
}

async function train() {
  $('train').disabled = true;
  Object.assign(state, { losses: [], totalSteps: 0, validation: null, files: null, error: null });
  $('metrics').textContent = '';
  $('downloads').textContent = '';
  drawCurve();
  try {
    const s = settings();
    if (!(s.heldOut >= 0 && s.heldOut <= 0.9)) throw new Error(`held out must be a share in [0, 0.9], got ${$('heldOut').value}`);
    const records = readRecords($('data').value);
    const { train, validation } = gift.splitRecords(records, [1 - s.heldOut, s.heldOut], s.seed);
    setStatus(`training on ${train.length} texts (${validation.length} held out)…`);
    const t0 = performance.now();
    const result = await gift.fineTuneClassifier({
      modelDir: MODEL_DIR, train, validation: validation.length ? validation : undefined, maxLength: s.maxLength,
      method: { method: 'gift', rank: s.rank, target_modules: TARGETS },
      options: { ...gift.DEFAULT_TRAIN_OPTIONS, epochs: s.epochs, batchSize: s.batchSize, lr: s.lr, headLr: s.headLr, warmupRatio: 0.06, seed: s.seed },
      callbacks: {
        onStep: (log, total) => {
          state.losses.push(log.loss);
          state.totalSteps = total;
          setStatus(`step ${log.step} / ${total}: loss ${log.loss.toFixed(4)}`);
          drawCurve();
        },
      },
    });
    const seconds = ((performance.now() - t0) / 1000).toFixed(1);
    state.validation = result.validation ?? null;
    $('metrics').textContent = result.validation ? `held out: ${gift.formatMetrics(result.validation)}` : 'no held-out texts';
    state.files = await gift.adapterFiles(result.adapter, { path: 'use-lite', architecture: gift.modelArchitecture(MODEL_DIR) }, { task: result.task });
    offerDownloads(state.files);
    setStatus(`done: ${result.training.steps} steps in ${seconds} s, ${result.adapter.trainableCount()} trainable parameters`);
  } catch (err) {
    state.error = err.message;
    setStatus(`error: ${err.message}`);
  } finally {
    $('train').disabled = false;
  }
}

async function loadSample() {
  const rows = await (await fetch('data/spam-sample.json')).json();
  $('data').value = rows.map((r) => `${r.label}\t${r.text}`).join('\n');
  countLines();
}

function countLines() {
  const n = $('data').value.split('\n').filter((l) => l.trim()).length;
  $('count').textContent = `${n} texts`;
}

$('sample').addEventListener('click', loadSample);
$('train').addEventListener('click', train);
$('data').addEventListener('input', countLines);
drawCurve();
state.backend = await chooseBackend();
$('backend').textContent = `giftjs ${gift.GIFTJS_VERSION} on ${state.backend}`;
setStatus('loading Universal Sentence Encoder Lite…');
await loadModel();
state.ready = true;
setStatus('ready: label some texts (or load the sample) and train');
