// The page: USE Lite + a new head + GIFT, trained by giftjs's own trainer (fineTuneClassifier, as
// `gift train` runs it on an encoder folder) on the webgpu backend, with a live loss curve, held-out
// metrics and the adapter's files to download. window.giftDemo carries the run's state for tests.
import * as gift from './giftjs.mjs';

const $ = (id) => document.getElementById(id);
const MODEL_DIR = '/model';
const state = (window.giftDemo = { ready: false, status: 'loading', losses: [], totalSteps: 0, validation: null, files: null, error: null, backend: '', emulated: false, chart: null });

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
    // SwiftShader (Chromium's fallback without a GPU) runs WebGPU on the CPU: it works, slowly.
    state.emulated = info.isFallbackAdapter === true || /swiftshader/i.test(name);
    const emulated = state.emulated ? ' -- a CPU emulator, not a GPU: training runs on the processor and is slow (about 20 minutes with the defaults; lower epochs, max length or the texts to go faster)' : '';
    return `WebGPU${name ? ` (${name})` : ''}${emulated}`;
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

/** A chosen file's text as "label<TAB>text" lines: TSV/TXT as they are (a header line skipped), JSON lines or a JSON list of {label, text}. */
function fileToLines(name, text) {
  if (/\.(jsonl|json)$/i.test(name)) {
    const trimmed = text.trim();
    const rows = trimmed.startsWith('[') ? JSON.parse(trimmed) : trimmed.split('\n').filter((l) => l.trim()).map((l, i) => {
      try {
        return JSON.parse(l);
      } catch (err) {
        throw new Error(`${name} line ${i + 1}: not JSON (${err.message})`);
      }
    });
    return rows.map((r, i) => {
      if (typeof r?.label !== 'string' && typeof r?.label !== 'number') throw new Error(`${name} record ${i + 1}: no "label"`);
      if (typeof r?.text !== 'string') throw new Error(`${name} record ${i + 1}: no "text"`);
      return `${r.label}\t${r.text.replace(/[\t\n]/g, ' ')}`;
    }).join('\n');
  }
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  if (/^label\ttext$/i.test(lines[0]?.trim() ?? '')) lines.shift();
  return lines.join('\n');
}

async function loadFile() {
  const file = $('file').files?.[0];
  if (!file) return;
  try {
    $('data').value = fileToLines(file.name, await file.text());
    clearError();
    countLines();
    setStatus(`loaded ${file.name}: ${$('count').textContent}`);
  } catch (err) {
    state.error = err.message;
    setStatus(`error: ${err.message}`);
  }
}

function clearError() {
  state.error = null;
  if (state.status.startsWith('error')) setStatus(state.ready ? 'ready' : state.status);
}

function settings() {
  const num = (id) => Number($(id).value);
  const targets = $('targets').value.split(',').map((t) => t.trim()).filter(Boolean);
  return { method: $('method').value, targets, rank: num('rank'), epochs: num('epochs'), batchSize: num('batch'), maxLength: num('maxLength'), lr: num('lr'), headLr: num('headLr'), heldOut: num('heldOut'), seed: num('seed') };
}

/** What the downloaded adapter is, and who loads it. */
function describeFormat() {
  $('format').textContent = $('method').value === 'lora'
    ? 'The adapter is a PEFT LoRA adapter (adapter_config.json + adapter_model.safetensors): PEFT and gift load it.'
    : 'The adapter is a giftjs GIFT adapter (adapter_config.json + adapter_model.safetensors): gift loads it; GIFT is not a PEFT method, so PEFT does not.';
}

/** Round steps for an axis from lo to hi: about `count` ticks at 1, 2 or 5 times a power of ten. */
function ticks(lo, hi, count) {
  const raw = (hi - lo) / count || 1;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function drawCurve() {
  const canvas = $('curve');
  const ctx = canvas.getContext('2d');
  const { width: W, height: H } = canvas;
  const pad = { l: 90, r: 24, t: 36, b: 70 };
  ctx.clearRect(0, 0, W, H);
  ctx.font = '22px system-ui, sans-serif';
  ctx.fillStyle = '#1d232b';
  ctx.fillText('training loss', pad.l, 24);
  const ys = state.losses;
  const total = Math.max(state.totalSteps, ys.length, 2);
  const lo = ys.length ? Math.min(...ys, 0) : 0;
  const hi = ys.length ? Math.max(...ys) * 1.05 || 1 : 1;
  const x = (step) => pad.l + (step / total) * (W - pad.l - pad.r);
  const y = (v) => pad.t + (1 - (v - lo) / (hi - lo)) * (H - pad.t - pad.b);
  // Axes: ticks and grid lines at round values, labelled; "step" below, "loss" beside.
  const yTicks = ticks(lo, hi, 5);
  const xTicks = ticks(0, total, 6).filter((s) => Number.isInteger(s));
  ctx.strokeStyle = '#e3e7eb';
  ctx.lineWidth = 1;
  ctx.fillStyle = '#58636f';
  ctx.font = '18px system-ui, sans-serif';
  ctx.textAlign = 'right';
  for (const v of yTicks) {
    ctx.beginPath();
    ctx.moveTo(pad.l, y(v));
    ctx.lineTo(W - pad.r, y(v));
    ctx.stroke();
    ctx.fillText(String(v), pad.l - 8, y(v) + 6);
  }
  ctx.textAlign = 'center';
  for (const s of xTicks) ctx.fillText(String(s), x(s), H - pad.b + 24);
  ctx.fillText('step', pad.l + (W - pad.l - pad.r) / 2, H - 12);
  ctx.save();
  ctx.translate(22, pad.t + (H - pad.t - pad.b) / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText('loss', 0, 0);
  ctx.restore();
  ctx.textAlign = 'left';
  ctx.strokeStyle = '#8a949e';
  ctx.strokeRect(pad.l, pad.t, W - pad.l - pad.r, H - pad.t - pad.b);
  state.chart = { yTicks, xTicks, xLabel: 'step', yLabel: 'loss' };
  if (ys.length === 0) return;
  ctx.strokeStyle = '#2f6db3';
  ctx.lineWidth = 3;
  ctx.beginPath();
  ys.forEach((v, i) => (i === 0 ? ctx.moveTo(x(i + 1), y(v)) : ctx.lineTo(x(i + 1), y(v))));
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
    if (s.targets.length === 0) throw new Error('targets: name at least one layer (query, key, value)');
    const records = readRecords($('data').value);
    const { train, validation } = gift.splitRecords(records, [1 - s.heldOut, s.heldOut], s.seed);
    setStatus(`training on ${train.length} texts (${validation.length} held out)…`);
    const t0 = performance.now();
    const result = await gift.fineTuneClassifier({
      modelDir: MODEL_DIR, train, validation: validation.length ? validation : undefined, maxLength: s.maxLength,
      method: s.method === 'lora' ? { method: 'lora', rank: s.rank, alpha: 2 * s.rank, target_modules: s.targets } : { method: 'gift', rank: s.rank, target_modules: s.targets },
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
  clearError(); // an earlier error (an empty Train, say) no longer applies
  countLines();
}

function countLines() {
  const n = $('data').value.split('\n').filter((l) => l.trim()).length;
  $('count').textContent = `${n} texts`;
}

$('sample').addEventListener('click', loadSample);
$('file').addEventListener('change', loadFile);
$('method').addEventListener('change', describeFormat);
describeFormat();
$('train').addEventListener('click', train);
$('data').addEventListener('input', countLines);
drawCurve();
state.backend = await chooseBackend();
$('backend').textContent = `giftjs ${gift.GIFTJS_VERSION} on ${state.backend}`;
setStatus('loading Universal Sentence Encoder Lite…');
await loadModel();
state.ready = true;
setStatus('ready: label some texts (or load the sample) and train');
