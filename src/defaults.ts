/**
 * Every default of search-agent sampling and training, in one place: the rollout, `evaluate`, the
 * trainer, the CLI flags, the demo and the worker API all spread these objects, and the README
 * quotes them. A default changes here or nowhere.
 */
import { IgSearchError } from './errors.js';

/** The Search-R1 tool loop: how rollouts (training) and greedy evaluation search and stop. */
export const SAMPLING_DEFAULTS = {
  /** Documents the retriever returns per search (Search-R1's topk). */
  docsPerSearch: 3,
  /** Searches per trajectory; one more `</search>` ends it with finish "max_turns". */
  maxTurns: 4,
  /** Tokens after the prompt, generated and appended (retrieved documents) together. */
  maxTokens: 512,
  /** Sampling temperature of training rollouts (evaluation is greedy). */
  temperature: 1,
} as const;

/**
 * The credit-assignment algorithms a trainer runs: GRPO (outcome only), IG-Search, and the
 * step-level baselines it is compared with (docs/method.md gives each formula and its source).
 */
export const ALGORITHMS = ['grpo', 'ig-search', 'ig-search-gamma', 'gigpo', 'igpo', 'mr-search', 'stepsearch'] as const;
export type Algorithm = (typeof ALGORITHMS)[number];

/** What the trainer, the CLI and the comparison need to know of an algorithm, in one place. */
export interface AlgorithmSpec {
  /**
   * What its step-level credit is: none beyond the group's outcome advantage (`outcome`), λ·IG̃ on
   * each search's query tokens (`query`), or a value per turn added to the turn's tokens (`turn`).
   */
  credit: 'outcome' | 'query' | 'turn';
  /** It scores every search's information gain (counterfactual documents, the rollout's cache). */
  ig: boolean;
  /** It probes the policy from the rollout's KV cache (IG, or IGPO's answer probability per turn). */
  cache: boolean;
  /** It reads the corpus itself (counterfactual documents, TF-IDF statistics), whatever the retriever. */
  corpus: boolean;
  /** Its step-level knobs, each at its source's default. */
  knobs: Readonly<{ gamma?: number; omega?: number; alpha?: number }>;
}

/**
 * The registry. ig-search-gamma (ours, not the paper's): a search's IG plus γ times the IG of the
 * searches after it in its trajectory, γ chosen on the validation split (docs/method.md).
 */
export const ALGORITHM_SPECS: Readonly<Record<Algorithm, AlgorithmSpec>> = {
  grpo: { credit: 'outcome', ig: false, cache: false, corpus: false, knobs: {} },
  'ig-search': { credit: 'query', ig: true, cache: true, corpus: true, knobs: {} },
  'ig-search-gamma': { credit: 'query', ig: true, cache: true, corpus: true, knobs: { gamma: 0.9 } },
  gigpo: { credit: 'turn', ig: false, cache: false, corpus: false, knobs: { gamma: 0.95, omega: 1 } },
  igpo: { credit: 'turn', ig: false, cache: true, corpus: false, knobs: { gamma: 1 } },
  'mr-search': { credit: 'turn', ig: true, cache: true, corpus: true, knobs: { gamma: 1, alpha: 1 } },
  stepsearch: { credit: 'turn', ig: false, cache: false, corpus: true, knobs: {} },
};

const select = (keep: (spec: AlgorithmSpec) => boolean): ReadonlySet<Algorithm> => new Set(ALGORITHMS.filter((a) => keep(ALGORITHM_SPECS[a])));
/** Algorithms that credit query tokens with λ·IG̃: the paper's, and its forward-credit variant. */
export const IG_ALGORITHMS = select((s) => s.credit === 'query');
/** Algorithms that read the corpus itself (counterfactual documents, TF-IDF statistics), whatever the retriever. */
export const CORPUS_ALGORITHMS = select((s) => s.corpus);
/** The step-level knobs of the algorithms that have any, each at its source's default. */
export const TURN_CREDIT_DEFAULTS = {
  'ig-search-gamma': ALGORITHM_SPECS['ig-search-gamma'].knobs as { readonly gamma: number },
  gigpo: ALGORITHM_SPECS.gigpo.knobs as { readonly gamma: number; readonly omega: number },
  igpo: ALGORITHM_SPECS.igpo.knobs as { readonly gamma: number },
  'mr-search': ALGORITHM_SPECS['mr-search'].knobs as { readonly gamma: number; readonly alpha: number },
};

/** Whether `name` is one of ALGORITHMS. */
export function isAlgorithm(name: unknown): name is Algorithm {
  return typeof name === 'string' && (ALGORITHMS as readonly string[]).includes(name);
}

/** `name` as an Algorithm, or a typed error naming `where` (a flag or a field) and the algorithms there are. */
export function checkAlgorithm(name: unknown, where: string): Algorithm {
  if (isAlgorithm(name)) return name;
  throw new IgSearchError('INVALID_ARGUMENT', `${where}: ${JSON.stringify(name)} is not one of ${ALGORITHMS.join(', ')}`);
}

/** One RL step and its optimizer (verl's GRPO conventions where they exist). */
export const TRAINER_DEFAULTS = {
  ...SAMPLING_DEFAULTS,
  algo: 'ig-search' as Algorithm,
  /** Rollouts per question (G). */
  groupSize: 5,
  /** λ on the step reward: the shaped information gain of query tokens (ig-search), G − P of a search turn (stepsearch). */
  lambda: 1,
  lr: 1e-6,
  /** AdamW's decoupled weight decay (torch's and verl's default). */
  weightDecay: 0.01,
  /** Global gradient-norm clip. */
  maxGradNorm: 1,
  /** KL coefficient β against the reference policy (off when there is none). */
  klBeta: 0.001,
  /** PPO clip range ε (both sides). */
  clip: 0.2,
  seed: 0,
  /**
   * Most rows (prompt + trajectory tokens) per forward+backward pass; a longer single sequence
   * still trains alone. Bounds activation memory, not sequence length.
   */
  microBatchRows: 2048,
} as const;

/** A training run around the trainer (`trainingRun`, `ig-search train`). */
export const RUN_DEFAULTS = {
  steps: 100,
  questionsPerStep: 4,
  checkpointEvery: 10,
  evalEvery: 0,
} as const;
