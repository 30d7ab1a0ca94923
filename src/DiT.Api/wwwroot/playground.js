// DiT playground: plain JS over the service's own API (GET /model, /classes, /generate/limits, POST /generate with
// the server-sent-events stream GET /generate/progress/{id}, and the job API POST /generations for grids).
// No build step; served from wwwroot.
'use strict';

const $ = (id) => document.getElementById(id);
const state = { classes: [], limits: null, model: null, history: [], busy: false };
// Every progress event the page received and every job it submitted, for people debugging and for the browser tests.
window.playground = { progressEvents: [], jobs: [] };

const HISTORY_SIZE = 12;
const IMAGES_PER_JOB = 16; // Generations:MaxImages by default; a larger seed grid is sent as several jobs
const FIELD_CONTROLS = {
  classId: 'class-input', className: 'class-input', guidanceScale: 'guidance', guidanceInterval: 'interval-low', steps: 'steps', seed: 'seed', sampler: 'sampler',
  cache: 'cache',
};
// The `cache` field's suggested values (docs/quality.md measures them); any other value the API allows works too.
const CACHE_CHOICES = [
  ['off', 'Off: every step runs the transformer'],
  ['fora:2', 'FORA, every 2nd step (fora:2)'],
  ['fora:3', 'FORA, every 3rd step (fora:3)'],
  ['taylor:3', 'TaylorSeer, every 3rd step (taylor:3)'],
  ['teacache:0.1', 'TeaCache, threshold 0.1 (teacache:0.1)'],
];

// ---------------------------------------------------------------- start-up

async function start() {
  try {
    const [model, classes, limits] = await Promise.all([getJson('/model'), getJson('/classes'), getJson('/generate/limits')]);
    state.classes = classes.classes;
    state.limits = limits;
    state.model = model;
    showModel(model);
    setUpForm(limits);
    $('class-hint').textContent = `${classes.count} classes: type part of a name or synonym.`;
  } catch (error) {
    showError(error);
  }
}

async function getJson(url) {
  const response = await fetch(url);
  if (!response.ok) throw await problemOf(response);
  return response.json();
}

function showModel(model) {
  const untrained = model.isUntrainedDefault ? ' — untrained default model: its images are noise.' : '';
  $('model-info').textContent =
    `${model.name}, ${model.imageWidth}×${model.imageHeight}, ${model.numClasses} classes, on ${model.device}${untrained}`;
}

function setUpForm(limits) {
  const steps = $('steps'), guidance = $('guidance'), sampler = $('sampler');
  steps.max = limits.maxSteps;
  steps.value = limits.defaultSteps;
  guidance.max = limits.maxGuidanceScale;
  guidance.value = limits.defaultGuidanceScale;
  guidance.disabled = !limits.supportsGuidance;
  $('seed').max = limits.maxSeed;
  for (const name of limits.samplers) sampler.add(new Option(name, name, false, name === limits.defaultSampler));
  const choices = CACHE_CHOICES.some(([value]) => value === limits.defaultCache) ? CACHE_CHOICES : [...CACHE_CHOICES, [limits.defaultCache, limits.defaultCache]];
  for (const [value, label] of choices) $('cache').add(new Option(label, value, false, value === limits.defaultCache));
  for (const input of [steps, guidance]) {
    input.addEventListener('input', showSliderValues);
  }
  showSliderValues();
  $('random-seed').addEventListener('change', (e) => { $('seed').disabled = e.target.checked; });
  const intervalOn = $('interval-on');
  const showInterval = () => { $('interval-low').disabled = $('interval-high').disabled = !intervalOn.checked; };
  intervalOn.disabled = !limits.supportsGuidance;
  if (limits.defaultGuidanceInterval) {
    [$('interval-low').value, $('interval-high').value] = limits.defaultGuidanceInterval;
    intervalOn.checked = true;
  }
  showInterval();
  intervalOn.addEventListener('change', showInterval);
  $('interval-help').textContent += ` This model's steps span σ ${limits.minNoiseLevel.toFixed(2)} (least noise) to ${limits.maxNoiseLevel.toFixed(0)}.`;
  setUpClassPicker();
  setUpSettingsLoader();
  $('generate-form').addEventListener('submit', onSubmit);
}

function showSliderValues() {
  $('steps-value').textContent = $('steps').value;
  $('guidance-value').textContent = Number($('guidance').value).toFixed(1);
}

// ---------------------------------------------------------------- class picker (ARIA combobox + listbox)

function setUpClassPicker() {
  const input = $('class-input'), list = $('class-options');
  let active = -1;

  const options = () => [...list.querySelectorAll('[role=option]')];
  const close = () => { list.hidden = true; input.setAttribute('aria-expanded', 'false'); input.removeAttribute('aria-activedescendant'); active = -1; };
  const choose = (option) => { input.value = option.dataset.name; close(); clearFieldError(input); };
  const highlight = (index) => {
    const all = options();
    if (all.length === 0) return;
    active = (index + all.length) % all.length;
    all.forEach((o, i) => o.setAttribute('aria-selected', String(i === active)));
    input.setAttribute('aria-activedescendant', all[active].id);
    all[active].scrollIntoView({ block: 'nearest' });
  };

  input.addEventListener('input', () => {
    const query = input.value.trim().toLowerCase();
    list.replaceChildren(...matchClasses(query).slice(0, 50).map(classOption));
    const any = query.length > 0 && list.children.length > 0;
    list.hidden = !any;
    input.setAttribute('aria-expanded', String(any));
    active = -1;
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown') { e.preventDefault(); if (list.hidden) input.dispatchEvent(new Event('input')); highlight(active + 1); }
    else if (e.key === 'ArrowUp') { e.preventDefault(); highlight(active - 1); }
    else if (e.key === 'Enter' && !list.hidden && active >= 0) { e.preventDefault(); choose(options()[active]); }
    else if (e.key === 'Escape') close();
  });
  list.addEventListener('mousedown', (e) => e.preventDefault()); // keep focus in the input
  list.addEventListener('click', (e) => { const option = e.target.closest('[role=option]'); if (option) choose(option); });
  input.addEventListener('blur', close);
}

function matchClasses(query) {
  if (!query) return [];
  const starts = [], contains = [];
  for (const entry of state.classes) {
    const names = entry.names.map((n) => n.toLowerCase());
    if (names.some((n) => n.startsWith(query))) starts.push(entry);
    else if (names.some((n) => n.includes(query))) contains.push(entry);
  }
  return starts.concat(contains);
}

function classOption(entry) {
  const query = $('class-input').value.trim().toLowerCase();
  // Show the name the user was looking for (a synonym may match), with the others as a hint.
  const name = entry.names.find((n) => n.toLowerCase().includes(query)) ?? entry.names[0];
  const li = document.createElement('li');
  li.id = `class-option-${entry.id}`;
  li.setAttribute('role', 'option');
  li.setAttribute('aria-selected', 'false');
  li.dataset.name = name;
  li.dataset.id = entry.id;
  li.append(name);
  const others = entry.names.filter((n) => n !== name);
  const hint = document.createElement('small');
  hint.textContent = ` #${entry.id}${others.length ? ' · ' + others.join(', ') : ''}`;
  li.append(hint);
  return li;
}

function classNameOf(id) {
  return state.classes.find((c) => c.id === id)?.names[0] ?? `class ${id}`;
}

// ---------------------------------------------------------------- generate

async function onSubmit(event) {
  event.preventDefault();
  if (state.busy) return;
  clearErrors();
  const mode = document.querySelector('input[name=mode]:checked').value;
  const bodies = requestsFor(mode);
  if (!bodies) return;
  setBusy(true);
  try {
    if (mode === 'single') await generateSingle(bodies[0]);
    else await generateGrid(bodies);
  } catch (error) {
    showError(error);
    setProgress(0, 1, '');
    setStatus('Generation failed.');
  } finally {
    setBusy(false);
  }
}

function requestsFor(mode) {
  const common = { guidanceScale: Number($('guidance').value), steps: Number($('steps').value), sampler: $('sampler').value, cache: $('cache').value };
  // Unticked sends [] (guidance at every step), so the server's default interval never applies unseen.
  common.guidanceInterval = $('interval-on').checked ? [Number($('interval-low').value), Number($('interval-high').value)] : [];
  let seed;
  if (!$('random-seed').checked) {
    seed = Number($('seed').value);
    if ($('seed').value.trim() === '' || !Number.isSafeInteger(seed)) {
      showError(new FieldErrors('Check the seed.', { seed: ['Enter a whole number, or tick Random seed.'] }));
      return null;
    }
  }
  const className = $('class-input').value.trim();
  const count = Math.max(1, Math.min(Number($('grid-count').value) || 1, Number($('grid-count').max)));

  if (mode === 'classes') {
    // One seed for the whole grid, so the classes are compared from the same starting noise.
    const gridSeed = seed ?? randomSeed();
    const ids = state.classes.slice(0, state.classes.length <= 10 ? state.classes.length : count).map((c) => c.id);
    return ids.map((classId) => ({ classId, ...common, seed: gridSeed, n: 1 }));
  }
  if (!className) {
    showError(new FieldErrors('Pick a class first.', { className: ['Type part of a class name and pick one from the list.'] }));
    return null;
  }
  if (mode === 'seeds') {
    // One job makes n images with seeds seed, seed+1, ...: split only beyond the per-job limit.
    const base = seed ?? randomSeed();
    const jobs = [];
    for (let first = 0; first < count; first += IMAGES_PER_JOB)
      jobs.push({ className, ...common, seed: base + first, n: Math.min(IMAGES_PER_JOB, count - first) });
    return jobs;
  }
  return [{ className, ...common, seed }];
}

function randomSeed() { return Math.floor(Math.random() * 1e9); }

async function generateSingle(body) {
  $('grid').hidden = true;
  setProgress(0, body.steps, 'Waiting for the engine…');
  setStatus(`Generating ${body.className}…`);
  const image = await generate(body, (p) => setProgress(p.step, p.totalSteps, `Step ${p.step}/${p.totalSteps}`));
  setProgress(body.steps, body.steps, `Step ${body.steps}/${body.steps}`);
  showImage(image);
  addToHistory(image);
  setStatus(`Done: ${image.className}, seed ${image.seed}, ${image.generateMs} ms.`);
}

// Grids go through the job API: each body is a job of n images whose cells fill as its images arrive.
async function generateGrid(jobs) {
  const total = jobs.reduce((sum, job) => sum + job.n, 0);
  const grid = $('grid');
  $('result').hidden = true;
  const cells = Array.from({ length: total }, () => document.createElement('li')); // in request order
  cells.forEach((cell) => cell.append('…'));
  grid.replaceChildren(...cells);
  grid.hidden = false;
  let done = 0;
  setProgress(0, total, `0/${total} images`);
  setStatus(`Generating ${total} images…`);
  let first = 0;
  const results = await Promise.allSettled(jobs.map((body) => {
    const offset = first;
    first += body.n;
    return runJob(body, (image) => {
      fillGridCell(cells[offset + image.index], image);
      addToHistory(image);
      done++;
      setProgress(done, total, `${done}/${total} images`);
    });
  }));
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  setStatus(`Done: ${total} images.`);
}

// POST /generations, then follow the job's event stream; onImage gets each image (fetched as a blob) once.
async function runJob(body, onImage) {
  const response = await fetch('/generations', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  if (!response.ok) throw await problemOf(response);
  const job = await response.json();
  window.playground.jobs.push(job.id);
  const fetched = [];
  const seen = new Set();
  const take = (image) => {
    if (seen.has(image.index)) return;
    seen.add(image.index);
    fetched.push(fetchJobImage(job, body, image).then(onImage));
  };
  const end = await new Promise((resolve, reject) => {
    const source = new EventSource(job.links.events);
    source.addEventListener('job', (e) => JSON.parse(e.data).images.forEach(take)); // images done before we subscribed
    source.addEventListener('image', (e) => take(JSON.parse(e.data)));
    source.addEventListener('end', (e) => { source.close(); resolve(JSON.parse(e.data)); });
    source.onerror = () => { source.close(); reject(new FieldErrors('Lost the job\'s event stream.', {}, 0)); };
  });
  end.images.forEach(take);
  await Promise.all(fetched);
  if (end.status !== 'succeeded')
    throw new FieldErrors(`Job ${end.status}.`, { '': [end.error?.detail ?? `The job ${end.status} before all its images were made.`] });
}

async function fetchJobImage(job, body, image) {
  const response = await fetch(image.url);
  if (!response.ok) throw await problemOf(response);
  return {
    url: URL.createObjectURL(await response.blob()),
    className: body.className ?? classNameOf(body.classId),
    seed: String(image.seed),
    job: job.id,
    index: image.index,
    cache: image.cacheHit ? 'hit' : 'miss',
  };
}

// POST /generate; with onProgress, subscribes to the request's SSE progress stream first.
async function generate(body, onProgress) {
  const headers = { 'Content-Type': 'application/json' };
  let progress = null;
  if (onProgress) {
    headers['X-Request-Id'] = newRequestId();
    progress = await subscribeProgress(headers['X-Request-Id'], onProgress);
  }
  try {
    const response = await fetch('/generate', {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
    });
    if (!response.ok) throw await problemOf(response);
    const blob = await response.blob();
    return {
      url: URL.createObjectURL(blob),
      className: body.className ?? classNameOf(body.classId),
      seed: response.headers.get('X-Seed'),
      generateMs: Number(response.headers.get('X-Generate-Ms') ?? 0),
      queueMs: Number(response.headers.get('X-Queue-Ms') ?? 0),
      batchSize: response.headers.get('X-Batch-Size') ?? '1',
      cache: response.headers.get('X-Cache'),
      passes: response.headers.get('X-Model-Passes'), // "full/total"; absent for cached images
    };
  } finally {
    progress?.close();
  }
}

function newRequestId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16)); // crypto.randomUUID needs a secure context
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

// Opens GET /generate/progress/{id}; resolves once subscribed (or after 2 s: progress is optional).
function subscribeProgress(id, onProgress) {
  return new Promise((resolve) => {
    const source = new EventSource(`/generate/progress/${id}`);
    const ready = () => resolve(source);
    const timer = setTimeout(ready, 2000);
    source.addEventListener('ready', () => { clearTimeout(timer); ready(); });
    source.addEventListener('progress', (e) => {
      const p = JSON.parse(e.data);
      window.playground.progressEvents.push(p);
      onProgress(p);
    });
    for (const end of ['done', 'expired']) source.addEventListener(end, () => source.close());
    source.onerror = () => { source.close(); clearTimeout(timer); ready(); }; // no auto-reconnect: it was one request
  });
}

// ---------------------------------------------------------------- showing results

function describe(image) {
  return `Generated image of class ${image.className}, seed ${image.seed}`;
}

function showImage(image) {
  const img = $('result-image');
  img.src = image.url;
  img.alt = describe(image);
  $('result-caption').textContent = image.job
    ? `${image.className} · seed ${image.seed} · image ${image.index} of job ${image.job.slice(0, 8)}${image.cache === 'hit' ? ' (from cache)' : ''}`
    : `${image.className} · seed ${image.seed} · ${image.generateMs} ms` +
      ` (queue ${image.queueMs} ms, batch of ${image.batchSize}${image.cache === 'hit' ? ', from cache' : ''}${savedPasses(image)})`;
  $('result').hidden = false;
}

// ", 25/50 model passes in full" when the step cache saved work, else nothing.
function savedPasses(image) {
  const [full, total] = (image.passes ?? '').split('/').map(Number);
  return full < total ? `, ${image.passes} model passes in full` : '';
}

function fillGridCell(li, image) {
  const img = document.createElement('img');
  img.src = image.url;
  img.alt = describe(image);
  li.replaceChildren(img, `${image.className} · seed ${image.seed}`);
}

function addToHistory(image) {
  state.history.unshift(image);
  for (const old of state.history.splice(HISTORY_SIZE)) {
    if (![...document.querySelectorAll('img')].some((i) => i.src === old.url)) URL.revokeObjectURL(old.url);
  }
  $('history-empty').hidden = true;
  $('history').replaceChildren(...state.history.map((item) => {
    const li = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    button.title = `${item.className}, seed ${item.seed}`;
    const img = document.createElement('img');
    img.src = item.url;
    img.alt = `Show again: ${describe(item)}`;
    button.append(img);
    button.addEventListener('click', () => { $('grid').hidden = true; showImage(item); });
    li.append(button);
    return li;
  }));
}

function setProgress(value, max, text) {
  const bar = $('progress');
  bar.max = Math.max(1, max);
  bar.value = value;
  $('progress-text').textContent = text;
}

function setStatus(text) { $('status').textContent = text; }

function setBusy(busy) {
  state.busy = busy;
  $('generate').disabled = busy;
  $('generate-form').setAttribute('aria-busy', String(busy));
}

// ---------------------------------------------------------------- settings from a dropped image

// Every PNG the service makes carries its settings: a "dit" text chunk (JSON) and A1111's "parameters" text.
function setUpSettingsLoader() {
  const form = $('generate-form'), input = $('load-settings');
  input.addEventListener('change', () => { if (input.files[0]) loadSettings(input.files[0]); input.value = ''; });
  form.addEventListener('dragover', (e) => {
    if (!e.dataTransfer.types.includes('Files')) return;
    e.preventDefault();
    form.classList.add('drop-target');
  });
  form.addEventListener('dragleave', () => form.classList.remove('drop-target'));
  form.addEventListener('drop', (e) => {
    e.preventDefault();
    form.classList.remove('drop-target');
    if (e.dataTransfer.files[0]) loadSettings(e.dataTransfer.files[0]);
  });
}

async function loadSettings(file) {
  clearErrors();
  try {
    const chunks = pngTextChunks(new Uint8Array(await file.arrayBuffer()));
    const settings = chunks.dit ? JSON.parse(chunks.dit) : chunks.parameters ? parseA1111(chunks.parameters) : null;
    if (!settings) throw new FieldErrors(`No settings in ${file.name}.`, { '': ['It has no "dit" or "parameters" text chunk: drop a PNG made by this service.'] });
    const name = applySettings(settings);
    const otherModel = settings.modelFingerprint && settings.modelFingerprint !== state.model?.fingerprint
      ? ` It was made by another model (${settings.modelFingerprint}), so this one will draw something else.` : '';
    setStatus(`Loaded the settings of ${file.name}: ${name}, seed ${settings.seed}.${otherModel}`);
  } catch (error) {
    showError(error instanceof SyntaxError ? new FieldErrors(`Unreadable settings in ${file.name}.`, { '': [error.message] }) : error);
  }
}

// The text chunks of a PNG: tEXt (Latin-1) and uncompressed iTXt (UTF-8), by keyword.
function pngTextChunks(bytes) {
  const signature = [137, 80, 78, 71, 13, 10, 26, 10];
  if (!signature.every((b, i) => bytes[i] === b))
    throw new FieldErrors('Not a PNG file.', { '': ['Settings are read from PNG images (jpeg and webp carry them as EXIF and XMP).'] });
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const latin1 = new TextDecoder('latin1'), utf8 = new TextDecoder();
  const chunks = {};
  for (let at = 8; at + 8 <= bytes.length;) {
    const length = view.getUint32(at);
    const type = latin1.decode(bytes.subarray(at + 4, at + 8));
    const data = bytes.subarray(at + 8, at + 8 + length);
    const nul = data.indexOf(0);
    if (type === 'tEXt' && nul > 0) chunks[latin1.decode(data.subarray(0, nul))] = latin1.decode(data.subarray(nul + 1));
    if (type === 'iTXt' && nul > 0 && data[nul + 1] === 0) { // not compressed; skip the language tag and translated keyword
      const language = data.indexOf(0, nul + 3), translated = data.indexOf(0, language + 1);
      chunks[latin1.decode(data.subarray(0, nul))] = utf8.decode(data.subarray(translated + 1));
    }
    if (type === 'IEND') break;
    at += 12 + length;
  }
  return chunks;
}

// A1111 style: the prompt (here the class name) on the first line, "Key: value, ..." on the last.
function parseA1111(text) {
  const lines = text.split('\n');
  const pairs = {};
  for (const [, key, value] of lines[lines.length - 1].matchAll(/\s*([^:,]+):\s*("(?:\\.|[^"])*"|[^,]*)/g))
    pairs[key.trim()] = value.startsWith('"') ? JSON.parse(value) : value.trim();
  const interval = pairs['Guidance interval'];
  return {
    className: lines[0], steps: Number(pairs.Steps), sampler: pairs.Sampler, guidanceScale: Number(pairs['CFG scale']),
    guidanceInterval: interval?.startsWith('all') ? [] : interval?.split('-').map(Number), cache: pairs['Step cache'],
    seed: Number(pairs.Seed), modelFingerprint: pairs['Model hash'],
  };
}

// Fills the form (single-image mode, fixed seed); returns the class name shown.
function applySettings(settings) {
  const name = settings.className ?? classNameOf(settings.classId);
  $('class-input').value = name;
  if (Number.isFinite(settings.steps)) $('steps').value = settings.steps;
  if (Number.isFinite(settings.guidanceScale) && !$('guidance').disabled) $('guidance').value = settings.guidanceScale;
  if (Array.isArray(settings.guidanceInterval) && !$('interval-on').disabled) { // [] is guidance at every step
    $('interval-on').checked = settings.guidanceInterval.length === 2;
    if (settings.guidanceInterval.length === 2) [$('interval-low').value, $('interval-high').value] = settings.guidanceInterval;
    $('interval-on').dispatchEvent(new Event('change'));
  }
  if ([...$('sampler').options].some((o) => o.value === settings.sampler)) $('sampler').value = settings.sampler;
  if (settings.cache) {
    if (![...$('cache').options].some((o) => o.value === settings.cache)) $('cache').add(new Option(settings.cache, settings.cache));
    $('cache').value = settings.cache;
  }
  if (Number.isSafeInteger(settings.seed)) {
    $('random-seed').checked = false;
    $('seed').disabled = false;
    $('seed').value = settings.seed;
  }
  document.querySelector('input[name=mode][value=single]').checked = true;
  showSliderValues();
  return name;
}

// ---------------------------------------------------------------- errors (ProblemDetails)

class FieldErrors extends Error {
  constructor(title, errors, status) { super(title); this.errors = errors ?? {}; this.status = status; }
}

async function problemOf(response) {
  let problem = {};
  try { problem = await response.json(); } catch { /* not JSON: keep the status line */ }
  const title = problem.title ?? `Request failed (${response.status} ${response.statusText})`;
  const errors = problem.errors ?? (problem.detail ? { '': [problem.detail] } : {});
  return new FieldErrors(title, errors, response.status);
}

function showError(error) {
  const box = $('error');
  const list = document.createElement('ul');
  const errors = error instanceof FieldErrors ? error.errors : { '': [error.message ?? String(error)] };
  for (const [field, messages] of Object.entries(errors)) {
    for (const message of messages) {
      const li = document.createElement('li');
      if (field) {
        const name = document.createElement('strong');
        name.textContent = `${field}: `;
        li.append(name);
      }
      li.append(message);
      list.append(li);
    }
    const control = $(FIELD_CONTROLS[field] ?? '');
    if (control) { control.setAttribute('aria-invalid', 'true'); control.setAttribute('aria-errormessage', 'error'); }
  }
  const title = document.createElement('p');
  title.textContent = error.message;
  box.replaceChildren(title, list);
  box.hidden = false;
}

function clearFieldError(control) { control.removeAttribute('aria-invalid'); control.removeAttribute('aria-errormessage'); }

function clearErrors() {
  $('error').hidden = true;
  $('error').replaceChildren();
  document.querySelectorAll('[aria-invalid]').forEach(clearFieldError);
}

start();
