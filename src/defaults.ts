/**
 * Every default of search-agent sampling and training, in one place: the rollout, `evaluate`, the
 * trainer, the CLI flags, the demo and the worker API all spread these objects, and the README
 * quotes them. A default changes here or nowhere.
 */

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

/** Algorithms that credit query tokens with λ·IG̃: the paper's, and its forward-credit variant. */
export const IG_ALGORITHMS: ReadonlySet<Algorithm> = new Set(['ig-search', 'ig-search-gamma']);
/** Algorithms that read the corpus itself (counterfactual documents, TF-IDF statistics), whatever the retriever. */
export const CORPUS_ALGORITHMS: ReadonlySet<Algorithm> = new Set(['ig-search', 'ig-search-gamma', 'mr-search', 'stepsearch']);

/**
 * The step-level knobs, each at its source's default. ig-search-gamma (ours, not the paper's):
 * a search's IG plus γ times the IG of the searches after it in its trajectory, γ chosen on the
 * validation split (docs/method.md).
 */
export const TURN_CREDIT_DEFAULTS = {
  'ig-search-gamma': { gamma: 0.9 },
  gigpo: { gamma: 0.95, omega: 1 },
  igpo: { gamma: 1 },
  'mr-search': { gamma: 1, alpha: 1 },
} as const;

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
