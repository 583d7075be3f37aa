// The studio: trains one algorithm on the demo world in a module Web Worker (the package's trainer
// behind comlink), and shows live what the run does — training reward, validation EM by hops, the
// information gain of its searches by query class, and the latest step token by token.
// Preact + htm for the page (4 KB, no build step for templates), uPlot for the live charts.
import { h, render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import htm from 'htm';
import uPlot from 'uplot';
import { ALGORITHMS, auc, DEFAULT_IG_SHAPING, MIN_CLASS, DEMO_DEFAULTS, igByClassChart, INSPECTION_CSS, renderInspection, workerCallback, wrapTrainerWorker } from '../browser.js';

const html = htm.bind(h);
const POLICY = new URL('../../assets/demo-policy', import.meta.url).href; // the package's layout: dist/studio/ beside assets/
const CLASSES = ['precise', 'redundant', 'vague'];
const COLOURS = { precise: '#2b8a3e', redundant: '#1971c2', vague: '#e03131' };
const params = new URLSearchParams(location.search);
// Step phases as StepMetrics.timing names them, with a colour each for the step-time chart.
const PHASES = [
  ['rollout', '#1c7ed6'],
  ['reward', '#868e96'],
  ['ig', '#2b8a3e'],
  ['advantages', '#ae3ec9'],
  ['reference', '#fab005'],
  ['update', '#e8590c'],
];

/** The run's knobs, from the demo's defaults (a query string may preset them: ?algo=grpo&steps=2…). */
const initialForm = () => ({
  algo: params.get('algo') ?? 'ig-search',
  steps: Number(params.get('steps') ?? 20),
  questionsPerStep: Number(params.get('questions') ?? DEMO_DEFAULTS.questionsPerStep),
  groupSize: Number(params.get('group') ?? DEMO_DEFAULTS.groupSize),
  lr: Number(params.get('lr') ?? DEMO_DEFAULTS.lr),
  lambda: Number(params.get('lambda') ?? DEMO_DEFAULTS.lambda),
  evalQuestions: Number(params.get('eval') ?? 32),
  evalEvery: Number(params.get('evalEvery') ?? 10),
  maxTokens: Number(params.get('maxTokens') ?? DEMO_DEFAULTS.maxTokens),
  loraRank: Number(params.get('lora') ?? 0),
  // IG shaping (IG-Search and its variants): dead zone τ, negative scale β, clip c, normalisation.
  deadZone: Number(params.get('deadZone') ?? DEFAULT_IG_SHAPING.deadZone),
  negativeScale: Number(params.get('negativeScale') ?? DEFAULT_IG_SHAPING.negativeScale),
  clip: Number(params.get('clip') ?? DEFAULT_IG_SHAPING.clip),
  normalize: params.get('normalize') ?? DEFAULT_IG_SHAPING.normalize,
});

/** Exact match of single-hop and of multi-hop questions from an evaluation's per-hop counts. */
function hopSplit(byHops) {
  const pick = (keys) => {
    const rows = keys.map((k) => byHops[k]).filter(Boolean);
    const n = rows.reduce((a, r) => a + r.n, 0);
    return n ? rows.reduce((a, r) => a + r.em * r.n, 0) / n : null;
  };
  return { single: pick(['1']), multi: pick(['2', '3']) };
}

function Chart({ title, series, data, yRange }) {
  const box = useRef(null);
  const plot = useRef(null);
  useEffect(() => {
    const opts = {
      title,
      width: Math.max(320, box.current.clientWidth - 8),
      height: 220,
      scales: { x: { time: false }, y: yRange ? { range: yRange } : {} },
      series: [{ label: 'step' }, ...series.map((s) => ({ label: s.label, stroke: s.colour, width: 2, points: { show: true, size: 5 } }))],
      axes: [{ label: 'training step' }, {}],
    };
    plot.current = new uPlot(opts, data, box.current);
    return () => plot.current.destroy();
  }, []);
  useEffect(() => plot.current?.setData(data), [data]);
  return html`<div class="panel chart" ref=${box}></div>`;
}

function IgByClass({ values }) {
  const total = CLASSES.reduce((a, c) => a + values[c].length, 0);
  if (total === 0) return html`<div class="panel classes"><h2>IG by query class</h2><p class="empty">No IG-scored searches yet (GRPO and the turn-level baselines score none).</p></div>`;
  const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
  const scale = Math.max(1e-9, ...CLASSES.map((c) => Math.abs(mean(values[c])) || 0));
  // As everywhere in the package: an AUC over fewer than MIN_CLASS searches of a class is not measured.
  const measured = values.precise.length >= MIN_CLASS && values.vague.length >= MIN_CLASS;
  const a = measured ? auc(values.precise, values.vague) : undefined;
  return html`<div class="panel classes"><h2>IG by query class</h2>
    <table><thead><tr><th>class</th><th>searches</th><th>mean IG</th><th></th></tr></thead><tbody>
    ${CLASSES.map((c) => {
      const m = mean(values[c]);
      return html`<tr data-class=${c}><td>${c}</td><td>${values[c].length}</td><td>${Number.isFinite(m) ? m.toFixed(3) : '–'}</td>
        <td style="text-align:left"><span class="bar" style=${`width:${Number.isFinite(m) ? Math.round((Math.abs(m) / scale) * 90) : 0}px;background:${COLOURS[c]};opacity:${m < 0 ? 0.45 : 1}`}></span></td></tr>`;
    })}
    </tbody></table>
    <div class="histogram" dangerouslySetInnerHTML=${{ __html: igByClassChart(values, 'Raw IG by class') ?? '' }}></div>
    <p class="empty">AUC precise vs vague: <b data-auc>${a === undefined ? `not measured (fewer than ${MIN_CLASS} of a class)` : a.toFixed(3)}</b> (the share of precise–vague pairs IG orders right; 0.5 is chance). Classes come from the world's supporting passages.</p></div>`;
}

function Inspector({ inspection, group, setGroup }) {
  if (!inspection) return html`<div class="panel"><h2>Inspect a step</h2><p class="empty">The latest step of an IG-Search run shows here, token by token.</p></div>`;
  const groups = [...new Set(inspection.rollouts.map((r) => r.group))];
  const shown = groups.includes(group) ? group : inspection.group;
  return html`<div class="panel inspector"><h2>Step ${inspection.step} of ${inspection.run}, token by token</h2>
    <div class="groups">${groups.map((g) => html`<button class=${g === shown ? '' : 'secondary'} onClick=${() => setGroup(g)}>question ${g + 1}</button>`)}</div>
    <div dangerouslySetInnerHTML=${{ __html: renderInspection(inspection.rollouts, shown) }}></div></div>`;
}

/**
 * The model to train: the demo policy, or a Hub id fetched by the worker into Cache Storage (a later
 * visit loads it from there, offline too). `?model=ORG/NAME&endpoint=URL` presets the fields.
 */
function ModelPicker({ api, running, model, setModel }) {
  const [repo, setRepo] = useState(params.get('model') ?? '');
  const [endpoint, setEndpoint] = useState(params.get('endpoint') ?? 'https://huggingface.co');
  const [state, setState] = useState({ busy: false, text: '', error: false, fraction: 0 });
  const load = async () => {
    setState({ busy: true, text: `${repo}: asking ${endpoint}…`, error: false, fraction: 0 });
    try {
      const onProgress = workerCallback((p) => {
        const fraction = p.filesTotal ? (p.filesDone + (p.totalBytes ? p.bytes / p.totalBytes : 0)) / p.filesTotal : 0;
        setState({ busy: true, text: `${p.file}: ${p.cached ? 'in the cache' : `${(p.bytes / 1e6).toFixed(1)} of ${(p.totalBytes / 1e6).toFixed(1)} MB`} (${p.filesDone}/${p.filesTotal} files)`, error: false, fraction });
      });
      const got = await api.download(repo.trim(), { endpoint: endpoint.trim() }, onProgress);
      setModel({ repo: repo.trim(), ...got });
      setState({ busy: false, text: `${repo.trim()}: ${got.architecture}, ${(got.parameters / 1e6).toFixed(2)}M parameters, kept in this browser's cache`, error: false, fraction: 1 });
    } catch (e) {
      setState({ busy: false, text: `${e.code ?? e.name}: ${e.message}`, error: true, fraction: 0 });
    }
  };
  return html`<fieldset class="data model"><legend>Model</legend>
    <p class="empty" data-model>${model ? `${model.repo} (from the Hub)` : 'The demo policy (0.4M parameters, trained for this world).'}</p>
    <label>Hub model<input name="hub-repo" placeholder="Qwen/Qwen2.5-0.5B-Instruct" value=${repo} disabled=${running || state.busy} onInput=${(e) => setRepo(e.currentTarget.value)} /></label>
    <label>Hub address<input name="hub-endpoint" value=${endpoint} disabled=${running || state.busy} onInput=${(e) => setEndpoint(e.currentTarget.value)} /></label>
    <div class="buttons"><button type="button" name="hub-load" class="secondary" disabled=${running || state.busy || !repo.trim()} onClick=${load}>Load</button>
      <button type="button" name="hub-clear" class="secondary" disabled=${running || !model} onClick=${() => setModel(undefined)}>Demo policy</button></div>
    ${state.busy || state.fraction ? html`<progress name="hub-progress" value=${state.fraction} max="1"></progress>` : ''}
    ${state.text ? html`<p class=${`status${state.error ? ' error' : ''}`} data-hub-status>${state.text}</p>` : ''}
  </fieldset>`;
}

function Try({ api, running, maxTokens, model }) {
  const [question, setQuestion] = useState(params.get('ask') ?? 'In which city was Kear Tealdes born?');
  const [text, setText] = useState('');
  const [result, setResult] = useState(undefined);
  const [busy, setBusy] = useState(false);
  const ask = async () => {
    setBusy(true);
    setText('');
    setResult(undefined);
    window.studio.asked = undefined;
    try {
      const r = await api.ask({ policy: POLICY, ...(model ? { model: model.dir } : {}), question, maxTokens }, workerCallback((t) => setText(t)));
      setText(r.text);
      setResult(r);
      window.studio.asked = r;
    } catch (e) {
      setResult({ error: `${e.code ?? e.name}: ${e.message}` });
      window.studio.asked = { error: e.message };
    } finally {
      setBusy(false);
    }
  };
  return html`<div class="panel try"><h2>Try the policy</h2>
    <form class="ask" onSubmit=${(e) => (e.preventDefault(), ask())}>
      <input name="question" value=${question} disabled=${busy || running} onInput=${(e) => setQuestion(e.currentTarget.value)} />
      <button type="submit" name="ask" disabled=${busy || running || !question.trim()}>Ask</button></form>
    ${text ? html`<pre class="answer-text">${text}</pre>` : ''}
    ${result?.error ? html`<p class="status error">${result.error}</p>` : ''}
    ${result && !result.error ? html`<p class="empty">Answered by ${result.model}: <b data-answer>${result.answer ?? '(no answer)'}</b> after ${result.searches.length} search${result.searches.length === 1 ? '' : 'es'} (${result.finish}).</p>` : ''}
    ${!text && !result ? html`<p class="empty">Greedy decoding with the weights the last run ended with (the warm start before any run), searching the demo world with BM25. Names are invented: ask about one from the inspector.</p>` : ''}
  </div>`;
}

/** Saves `data` as a file the browser downloads. */
function download(name, data, type = 'application/octet-stream') {
  const url = URL.createObjectURL(new Blob([data], { type }));
  const a = Object.assign(document.createElement('a'), { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function Export({ api, result, running, lora }) {
  const [busy, setBusy] = useState(false);
  if (!result) return '';
  const model = async () => {
    setBusy(true);
    try {
      const files = await api.exportModel();
      for (const [name, data] of Object.entries(files)) download(name, data);
    } finally {
      setBusy(false);
    }
  };
  const metrics = result.records.map((r) => JSON.stringify(r)).join('\n') + '\n';
  return html`<div class="panel export"><h2>Export the run</h2><div class="buttons">
    <button type="button" name="export-model" disabled=${busy || running} onClick=${model}>${lora ? 'LoRA adapter (PEFT safetensors, adapter_config)' : 'Model (safetensors, config, tokenizer)'}</button>
    <button type="button" name="export-metrics" class="secondary" onClick=${() => download('metrics.jsonl', metrics, 'application/jsonl')}>metrics.jsonl</button>
    <button type="button" name="export-report" class="secondary" onClick=${() => download('report.html', result.html, 'text/html')}>report.html</button></div>
    <p class="empty">${lora
      ? html`The adapter is a PEFT directory over the demo policy: <code>LoraAdapters.load</code>, <code>ig-search eval --lora DIR</code> and PEFT read it.`
      : html`The model is a Hugging Face directory: <code>CausalLM.load</code>, <code>ig-search eval --model DIR</code> and PyTorch read it.`}</p></div>`;
}

function Studio({ api, info }) {
  const [form, setForm] = useState(initialForm);
  const [running, setRunning] = useState(false);
  const [paused, setPaused] = useState(false);
  const [status, setStatus] = useState({ text: `Ready: ${info.adapter} (${info.architecture}), the demo policy and world.`, error: false });
  const [progress, setProgress] = useState(0);
  const [steps, setSteps] = useState([]);
  const [evals, setEvals] = useState([]);
  const [inspection, setInspection] = useState(undefined);
  const [group, setGroup] = useState(-1);
  const [result, setResult] = useState(undefined);
  const [files, setFiles] = useState({});
  const [model, setModel] = useState(undefined);
  const field = (key, label, attrs = {}) => html`<label>${label}<input type="number" name=${key} value=${form[key]} disabled=${running} ...${attrs}
      onInput=${(e) => setForm({ ...form, [key]: Number(e.currentTarget.value) })} /></label>`;

  const start = async () => {
    setSteps([]);
    setEvals([]);
    setInspection(undefined);
    setResult(undefined);
    setProgress(0);
    setRunning(true);
    setStatus({ text: `${form.algo}: starting…`, error: false });
    window.studio.done = false;
    const started = performance.now();
    try {
      // The user's files go to the worker as bytes; it parses them with the CLI's file:line checks.
      const read = async (f) => (f ? { name: f.name, bytes: new Uint8Array(await f.arrayBuffer()) } : undefined);
      const uploads = files.corpus || files.questions ? { corpus: await read(files.corpus), questions: await read(files.questions), validation: await read(files.validation) } : undefined;
      if (uploads && (!uploads.corpus || !uploads.questions)) throw Object.assign(new Error('your data needs a corpus (JSONL) and a questions file (JSONL or Parquet); the validation file is optional'), { code: 'INVALID_ARGUMENT' });
      if (uploads && !uploads.validation) delete uploads.validation;
      const onEvent = workerCallback((e) => {
        if (e.type === 'progress') setProgress(e.step / form.steps);
        if (e.type === 'progress' && e.phase === 'paused') setStatus({ text: `${e.run}: paused before step ${e.step + 1}/${form.steps}`, error: false });
        if (e.type === 'step') {
          setSteps((xs) => [...xs, { step: e.step, reward: e.reward, ig: e.ig, classes: e.searchClasses ?? [], allFailShare: e.allFailGroups / form.questionsPerStep, allFailGradNorm: e.allFailGradNorm, gradNorm: e.gradNorm, timing: e.timing }]);
          setStatus({ text: `${e.run} step ${e.step}/${form.steps}: reward ${e.reward.toFixed(2)}, ${e.ig.length} IG-scored searches, ${(Object.values(e.timing).reduce((a, b) => a + b, 0) / 1000).toFixed(1)} s`, error: false });
        }
        if (e.type === 'eval') setEvals((xs) => [...xs, { step: e.step, em: e.em, ...hopSplit(e.byHops), hops: Object.fromEntries(['1', '2', '3'].map((k) => [k, e.byHops[k]?.em ?? null])) }]);
      });
      const onInspection = workerCallback((i) => setInspection(i));
      const result = await api.demo(
        { policy: POLICY, ...(model ? { model: model.dir } : {}), ...(uploads ? { uploads } : {}), algos: [form.algo], steps: form.steps, questionsPerStep: form.questionsPerStep, groupSize: form.groupSize, lr: form.lr, lambda: form.lambda, evalQuestions: form.evalQuestions, evalEvery: form.evalEvery, maxTokens: form.maxTokens, ...(form.loraRank > 0 ? { loraRank: form.loraRank } : {}), trainer: { igShaping: { deadZone: form.deadZone, negativeScale: form.negativeScale, clip: form.clip, normalize: form.normalize } } },
        onEvent,
        onInspection,
      );
      setProgress(1);
      setResult({ ...result, lora: form.loraRank > 0 });
      setStatus({ text: `${result.aborted ? 'Stopped' : 'Done'} after ${result.records.filter((r) => r.type === 'step').length} steps in ${((performance.now() - started) / 1000).toFixed(0)} s.`, error: false });
    } catch (e) {
      setStatus({ text: `${e.code ?? e.name}: ${e.message}${e.hint ? ` (${e.hint})` : ''}`, error: true });
    } finally {
      setRunning(false);
      setPaused(false);
      window.studio.done = true;
    }
  };

  const rewardData = [steps.map((s) => s.step), steps.map((s) => s.reward)];
  const gradData = [steps.map((s) => s.step), steps.map((s) => s.gradNorm), steps.map((s) => s.allFailGradNorm), steps.map((s) => s.allFailShare)];
  const timeData = [steps.map((s) => s.step), ...PHASES.map(([k]) => steps.map((s) => (s.timing[k] ?? 0) / 1000))];
  const pause = () => {
    void (paused ? api.resume() : api.pause());
    setPaused(!paused);
    if (paused) setStatus({ text: `${form.algo}: resumed`, error: false });
  };
  // Per hop count: a split without questions of that count (a small evaluation, or your data) draws no points.
  const emData = [evals.map((e) => e.step), evals.map((e) => e.em), ...['1', '2', '3'].map((k) => evals.map((e) => e.hops[k]))];
  const byClass = Object.fromEntries(CLASSES.map((c) => [c, steps.flatMap((s) => s.ig.filter((_, k) => s.classes[k] === c))]));
  window.studio.state = { steps, evals, inspection, byClass };
  return html`
    <header><h1>ig-search studio</h1><span class="device">${info.runtime} worker · ${info.adapter} (${info.architecture})</span></header>
    <main>
      <aside class="panel"><h2>Run</h2>
        <form onSubmit=${(e) => e.preventDefault()}>
          <label>Algorithm<select name="algo" disabled=${running} value=${form.algo} onChange=${(e) => setForm({ ...form, algo: e.currentTarget.value })}>
            ${ALGORITHMS.map((a) => html`<option value=${a}>${a}</option>`)}</select></label>
          ${field('steps', 'Steps', { min: 1 })}
          ${field('questionsPerStep', 'Questions per step', { min: 1 })}
          ${field('groupSize', 'Group size G', { min: 2 })}
          ${field('lr', 'Learning rate', { step: 'any' })}
          ${field('lambda', 'λ (IG weight)', { step: 'any' })}
          ${field('evalQuestions', 'Validation questions', { min: 1 })}
          ${field('evalEvery', 'Evaluate every', { min: 1 })}
          ${field('maxTokens', 'Tokens per rollout', { min: 16 })}
          ${field('loraRank', 'LoRA rank (0: all weights)', { min: 0 })}
          <details class="shaping"><summary>IG shaping</summary>
            ${field('deadZone', 'Dead zone τ', { step: 'any', min: 0 })}
            ${field('negativeScale', 'Negative scale β', { step: 'any', min: 0 })}
            ${field('clip', 'Clip c', { step: 'any', min: 0 })}
            <label>Normalise<select name="normalize" disabled=${running} value=${form.normalize} onChange=${(e) => setForm({ ...form, normalize: e.currentTarget.value })}>
              <option value="none">none</option><option value="group-z">group-z</option></select></label>
          </details>
          <${ModelPicker} api=${api} running=${running} model=${model} setModel=${setModel} />
          <fieldset class="data"><legend>Data</legend>
            <p class="empty">${files.corpus || files.questions ? 'Your files (the demo policy, trained on them).' : 'The demo world. Or your own:'}</p>
            ${[
              ['corpus', 'Corpus (JSONL: id, contents)', '.jsonl,.json,.txt'],
              ['questions', 'Questions (JSONL or Search-R1 Parquet)', '.jsonl,.json,.txt,.parquet'],
              ['validation', 'Validation (optional; else a tenth held out)', '.jsonl,.json,.txt,.parquet'],
            ].map(([key, label, accept]) => html`<label>${label}<input type="file" name=${`file-${key}`} accept=${accept} disabled=${running} onChange=${(e) => setFiles({ ...files, [key]: e.currentTarget.files[0] })} /></label>`)}
          </fieldset>
          <div class="buttons"><button type="button" name="start" disabled=${running} onClick=${start}>Train</button>
            <button type="button" name="pause" class="secondary" disabled=${!running} onClick=${pause}>${paused ? 'Resume' : 'Pause'}</button>
            <button type="button" name="stop" class="secondary" disabled=${!running} onClick=${() => api.abort()}>Stop</button></div>
        </form>
        <progress value=${progress} max="1"></progress>
        <p class=${`status${status.error ? ' error' : ''}`} role="status">${status.text}</p>
      </aside>
      <section>
        <div class="charts">
          <${Chart} title="Training reward (EM of the rollouts)" series=${[{ label: 'reward', colour: '#f08c00' }]} data=${rewardData} yRange=${[0, 1]} />
          <${Chart} title="Validation EM (greedy)" series=${[{ label: 'all', colour: '#212529' }, { label: '1-hop', colour: '#1c7ed6' }, { label: '2-hop', colour: '#e8590c' }, { label: '3-hop', colour: '#ae3ec9' }]} data=${emData} yRange=${[0, 1]} />
          <${Chart} title="Gradient norm: the step's, and its all-fail groups' (GRPO: 0)" series=${[{ label: 'step', colour: '#212529' }, { label: 'all-fail groups', colour: '#e03131' }, { label: 'all-fail share', colour: '#adb5bd' }]} data=${gradData} />
          <${Chart} title="Step time by phase (s)" series=${PHASES.map(([k, colour]) => ({ label: k, colour }))} data=${timeData} />
          <${IgByClass} values=${byClass} />
        </div>
        <${Inspector} inspection=${inspection} group=${group} setGroup=${setGroup} />
        <${Try} api=${api} running=${running} maxTokens=${form.maxTokens} model=${model} />
        <${Export} api=${api} result=${result} running=${running} lora=${result?.lora} />
      </section>
    </main>`;
}

window.studio = { ready: false, done: true, logprobs: (sequences) => api.logprobs(sequences) };
const style = document.createElement('style');
style.textContent = INSPECTION_CSS;
document.head.append(style);
const worker = new Worker(new URL('../worker-browser.js', import.meta.url), { type: 'module' });
const api = wrapTrainerWorker(worker);
try {
  const info = await api.info();
  const app = document.getElementById('app');
  app.textContent = '';
  render(html`<${Studio} api=${api} info=${info} />`, app);
  window.studio.ready = true;
} catch (e) {
  document.getElementById('app').textContent = `The studio needs WebGPU in this browser: ${e.message}`;
  window.studio.error = e.message;
}
