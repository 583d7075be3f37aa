/**
 * What a step credited, token by token: each rollout of a step as text pieces with the advantage the
 * update gave them — λ·IG̃ added on a search query's tokens, the group's Â on the rest of the
 * policy's tokens, nothing on appended documents — and each search's query, documents, IG and
 * class. `inspectStep` builds it from a step's full metrics (`TrainingRunOptions.onStep`);
 * `renderInspection` draws one group side by side as HTML, the colour of a token its advantage.
 */
import type { Question } from '../retrieval/corpus.js';
import { labelRollouts, type QueryClass } from '../rl/signal.js';
import type { StepMetrics } from '../rl/trainer.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { escapeXml } from './svg.js';

export type PieceKind = 'policy' | 'query' | 'information';

export interface InspectedPiece {
  /** The text the token adds (a token holding part of a character adds nothing until the character is whole). */
  text: string;
  kind: PieceKind;
  /** The advantage the update applied to this token (0 on appended information). */
  advantage: number;
}

export interface InspectedSearch {
  query: string;
  documents: { id: string; title: string }[];
  /** Raw IG of this search (nats/token), when the algorithm scored it. */
  ig?: number;
  /** The random documents its IG compared these documents with (when it was scored and the step says). */
  counterfactual?: { id: string; title: string }[];
  /** Precise / redundant / vague, when the question names its supporting passages. */
  cls?: QueryClass;
}

export interface InspectedRollout {
  question: string;
  group: number;
  reward: number;
  answer: string | undefined;
  finish: string;
  pieces: InspectedPiece[];
  searches: InspectedSearch[];
}

/** Every rollout of a step, in batch order (rollout i answers `questions[⌊i / G⌋]`). */
export function inspectStep(tokenizer: Tokenizer, metrics: Pick<StepMetrics, 'trajectories' | 'tokenAdvantages' | 'rewards' | 'ig'> & Partial<Pick<StepMetrics, 'igCounterfactuals'>>, questions: readonly Question[], groupSize: number): InspectedRollout[] {
  const labelled = questions.every((q) => q.supporting && q.supporting.length > 0);
  const labels = labelled ? labelRollouts(metrics.trajectories, questions, groupSize) : undefined;
  // IG values come search by search, rollout after rollout, for every search the algorithm scored.
  const searchCount = metrics.trajectories.reduce((n, t) => n + t.searches.length, 0);
  let igAt = metrics.ig.length === searchCount ? 0 : -1;
  return metrics.trajectories.map((t, i) => {
    const kinds = new Array<PieceKind>(t.tokens.length).fill('policy');
    for (const s of t.searches) {
      for (let j = s.span[0]; j < s.span[1]; j++) kinds[j] = 'query';
      for (let j = s.information[0]; j < s.information[1]; j++) kinds[j] = 'information';
    }
    for (let j = 0; j < t.tokens.length; j++) if (!t.policyMask[j] && kinds[j] === 'policy') kinds[j] = 'information';
    const advantages = metrics.tokenAdvantages[i]!;
    const pieces: InspectedPiece[] = [];
    let decoded = '';
    for (let j = 0; j < t.tokens.length; j++) {
      // The text a token adds is what decoding one more token adds (whole characters only).
      const next = tokenizer.decode(t.tokens.subarray(0, j + 1));
      const stable = next.endsWith('\ufffd') ? decoded : next;
      pieces.push({ text: stable.slice(decoded.length), kind: kinds[j]!, advantage: kinds[j] === 'information' ? 0 : advantages[j]! });
      decoded = stable;
    }
    const searches = t.searches.map((s, k) => {
      const out: InspectedSearch = { query: s.query, documents: s.documents.map((d) => ({ id: d.id, title: d.title })) };
      if (igAt >= 0) {
        const random = metrics.igCounterfactuals?.[igAt];
        if (random) out.counterfactual = random;
        out.ig = metrics.ig[igAt++];
      }
      const cls = labels?.[i]?.[k]?.cls;
      if (cls) out.cls = cls;
      return out;
    });
    return { question: questions[Math.floor(i / groupSize)]!.question, group: Math.floor(i / groupSize), reward: metrics.rewards[i]!, answer: t.answer, finish: t.finish, pieces, searches };
  });
}

/** Red for a negative advantage, blue for a positive one, stronger as |a| nears `scale`. */
function colour(advantage: number, scale: number): string {
  const alpha = Math.min(1, Math.abs(advantage) / scale) * 0.55;
  return advantage >= 0 ? `rgba(37,99,235,${alpha.toFixed(3)})` : `rgba(220,38,38,${alpha.toFixed(3)})`;
}

/**
 * One group's rollouts side by side: every token shaded by its advantage (query tokens outlined,
 * appended documents greyed), each rollout's reward and searches (query, IG, class, documents, and
 * the random documents its IG was measured against).
 */
export function renderInspection(rollouts: readonly InspectedRollout[], group = 0): string {
  const mine = rollouts.filter((r) => r.group === group);
  const scale = Math.max(1e-6, ...mine.flatMap((r) => r.pieces.map((p) => Math.abs(p.advantage))));
  const columns = mine.map((r, i) => {
    const text = r.pieces
      .map((p) => {
        const title = p.kind === 'information' ? 'appended (no loss)' : `${p.kind === 'query' ? 'query token' : 'policy token'}: advantage ${p.advantage.toFixed(4)}`;
        const style = p.kind === 'information' ? 'color:#9ca3af' : `background:${colour(p.advantage, scale)}`;
        return `<span class="tok ${p.kind}" style="${style}" title="${title}">${escapeXml(p.text)}</span>`;
      })
      .join('');
    const searches = r.searches
      .map((s) => `<li><b>${escapeXml(s.query)}</b>${s.ig === undefined ? '' : ` IG ${s.ig.toFixed(3)}`}${s.cls ? ` <i>${s.cls}</i>` : ''}<br><small>${s.documents.map((d) => escapeXml(d.title)).join(' · ')}</small>${s.counterfactual ? `<br><small class="counterfactual">vs random: ${s.counterfactual.map((d) => escapeXml(d.title)).join(' · ')}</small>` : ''}</li>`)
      .join('');
    return `<div class="rollout"><h4>rollout ${i + 1}: reward ${r.reward.toFixed(2)} (${escapeXml(r.finish)}${r.answer === undefined ? '' : `, answered “${escapeXml(r.answer)}”`})</h4><pre>${text}</pre><ol>${searches}</ol></div>`;
  });
  const question = mine[0]?.question ?? '';
  return `<section class="inspection"><h3>${escapeXml(question)}</h3><p>Blue: positive advantage, red: negative (scale ±${scale.toFixed(3)}); outlined: query tokens; grey: appended documents.</p><div class="group">${columns.join('')}</div></section>`;
}

/** The styles `renderInspection`'s markup expects. */
export const INSPECTION_CSS = `.inspection .group{display:grid;grid-template-columns:repeat(auto-fit,minmax(18rem,1fr));gap:.75rem}
.inspection .counterfactual{color:#9ca3af}
.inspection pre{white-space:pre-wrap;font-size:12px;line-height:1.5}
.inspection .tok.query{outline:1px solid #1e3a8a;border-radius:2px}
.inspection h4{margin:.25rem 0;font-size:13px}`;
