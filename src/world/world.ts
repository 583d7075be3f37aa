/**
 * A seeded synthetic knowledge world for the demo: invented people, cities, countries, companies
 * and films (names built from syllables, so no model knows them beforehand) joined by relations,
 * one Search-R1 passage per entity plus distractor passages, and single-hop and 2–3-hop questions
 * whose answers can only be reached by searching. Everything is a pure function of the seed.
 */
import { IgSearchError } from '../errors.js';

export type EntityKind = 'person' | 'city' | 'country' | 'company' | 'film';

export interface Entity {
  id: string;
  kind: EntityKind;
  name: string;
  /** Relation name → entity id. */
  relations: Record<string, string>;
  /** Extra facts (no answers hide here): founded year, genre… */
  facts: Record<string, string>;
}

export interface WorldQuestion {
  id: string;
  question: string;
  golden_answers: string[];
  hops: 1 | 2 | 3;
  /** Entity ids along the reasoning chain, first hop first (the last one's passage holds the answer). */
  chain: string[];
  split: WorldSplit;
}

/**
 * `train` feeds SFT and RL, `validation` every choice (knobs, budget, warm start), `test` only a
 * pre-registered evaluation. In worlds built with `validationFraction`, a split owns whole
 * entities: every question that names an entity in its text is in the same split, so a policy
 * cannot pass validation or test by remembering that entity's facts from training questions.
 */
export type WorldSplit = 'train' | 'validation' | 'test';
export const WORLD_SPLITS: readonly WorldSplit[] = ['train', 'validation', 'test'];

export interface WorldPassage {
  id: string;
  contents: string;
}

export interface World {
  seed: number;
  entities: Entity[];
  passages: WorldPassage[];
  questions: WorldQuestion[];
}

export interface WorldOptions {
  seed?: number;
  countries?: number;
  cities?: number;
  companies?: number;
  people?: number;
  films?: number;
  /** Passages about entities no question touches (retrieval noise). */
  distractors?: number;
  /** Fraction of questions held out for evaluation (default 0.2). */
  testFraction?: number;
  /**
   * Fraction of questions in the validation split. When set (even to 0), the split is by the entity
   * each question names (its chain's first), and `testFraction` counts questions the same way;
   * when absent, questions are split one by one into train and test (worlds written before v0.3).
   */
  validationFraction?: number;
}

const ONSETS = ['b', 'br', 'c', 'd', 'dr', 'f', 'g', 'h', 'k', 'l', 'm', 'n', 'p', 'qu', 'r', 's', 'st', 't', 'tr', 'v', 'z'];
const VOWELS = ['a', 'e', 'i', 'o', 'u', 'ai', 'ea', 'io'];
const CODAS = ['', '', 'n', 'r', 'l', 's', 'th', 'nd', 'rk'];
const COUNTRY_ENDS = ['ia', 'land', 'or', 'istan', 'ea'];
const CITY_ENDS = ['burg', 'ford', 'mar', 'ton', 'vale', 'port'];
const COMPANY_ENDS = ['Labs', 'Works', 'Systems', 'Industries', 'Group'];
const FILM_WORDS = ['Silent', 'Crimson', 'Hollow', 'Distant', 'Broken', 'Golden', 'Last', 'Hidden'];
const FILM_NOUNS = ['Harbor', 'Orchard', 'Signal', 'Lantern', 'Frontier', 'Archive', 'Tide', 'Garden'];
const GENRES = ['drama', 'comedy', 'thriller', 'documentary', 'science fiction film'];
const FIELDS = ['engineer', 'chemist', 'economist', 'architect', 'historian', 'pilot', 'composer'];

function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function buildWorld(options: WorldOptions = {}): World {
  const seed = options.seed ?? 1;
  const counts = { countries: 6, cities: 18, companies: 14, people: 60, films: 24, distractors: 40, ...options };
  for (const [key, value] of Object.entries(counts)) {
    if (key === 'seed' || key === 'testFraction' || key === 'validationFraction') continue;
    if (!Number.isInteger(value) || (value as number) < 1) throw new IgSearchError('INVALID_ARGUMENT', `world: ${key} must be a positive integer, got ${String(value)}`);
  }
  const testFraction = options.testFraction ?? 0.2;
  if (!(testFraction >= 0 && testFraction < 1)) throw new IgSearchError('INVALID_ARGUMENT', `world: testFraction must be in [0, 1), got ${testFraction}`);
  const validationFraction = options.validationFraction;
  if (validationFraction !== undefined && !(validationFraction >= 0 && validationFraction + testFraction < 1)) {
    throw new IgSearchError('INVALID_ARGUMENT', `world: validationFraction must be ≥ 0 with validationFraction + testFraction < 1, got ${validationFraction} + ${testFraction}`);
  }
  const rng = random(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rng() * list.length)]!;
  const used = new Set<string>();
  const unique = (make: () => string): string => {
    for (let attempt = 0; attempt < 1000; attempt++) {
      const name = make();
      if (!used.has(name.toLowerCase())) {
        used.add(name.toLowerCase());
        return name;
      }
    }
    throw new IgSearchError('INVALID_ARGUMENT', 'world: ran out of distinct names; use fewer entities');
  };
  const syllable = () => pick(ONSETS) + pick(VOWELS) + pick(CODAS);
  const word = (n: number) => {
    const w = Array.from({ length: n }, syllable).join('');
    return w[0]!.toUpperCase() + w.slice(1);
  };

  const entities: Entity[] = [];
  const make = (kind: EntityKind, count: number, name: () => string) =>
    Array.from({ length: count }, (_, i) => {
      const e: Entity = { id: `${kind}-${i}`, kind, name: unique(name), relations: {}, facts: {} };
      entities.push(e);
      return e;
    });
  const countries = make('country', counts.countries, () => word(1) + pick(COUNTRY_ENDS));
  const cities = make('city', counts.cities, () => word(1) + pick(CITY_ENDS));
  const companies = make('company', counts.companies, () => `${word(2)} ${pick(COMPANY_ENDS)}`);
  const people = make('person', counts.people + counts.distractors, () => `${word(1)} ${word(2)}`);
  const films = make('film', counts.films, () => `The ${pick(FILM_WORDS)} ${pick(FILM_NOUNS)} of ${word(1)}`);

  for (const c of cities) c.relations['country'] = pick(countries).id;
  for (const c of companies) {
    c.relations['headquarters'] = pick(cities).id;
    c.facts['founded'] = String(1900 + Math.floor(rng() * 120));
  }
  for (const p of people) {
    p.relations['birthplace'] = pick(cities).id;
    p.relations['employer'] = pick(companies).id;
    p.facts['field'] = pick(FIELDS);
  }
  const cast = people.slice(0, counts.people);
  for (const f of films) {
    f.relations['director'] = pick(cast).id;
    f.facts['genre'] = pick(GENRES);
    f.facts['year'] = String(1950 + Math.floor(rng() * 70));
  }

  const byId = new Map(entities.map((e) => [e.id, e]));
  const rel = (e: Entity, r: string) => byId.get(e.relations[r]!)!;
  const describe = (e: Entity): string => {
    switch (e.kind) {
      case 'country':
        return `${e.name} is a country.`;
      case 'city':
        return `${e.name} is a city in ${rel(e, 'country').name}.`;
      case 'company':
        return `${e.name} is a company founded in ${e.facts['founded']}. Its headquarters are in ${rel(e, 'headquarters').name}.`;
      case 'person':
        return `${e.name} is a ${e.facts['field']} born in ${rel(e, 'birthplace').name}. ${e.name} works for ${rel(e, 'employer').name}.`;
      case 'film':
        return `${e.name} is a ${e.facts['year']} ${e.facts['genre']} directed by ${rel(e, 'director').name}.`;
    }
  };
  const passages: WorldPassage[] = entities.map((e) => ({ id: e.id, contents: `"${e.name}"\n${describe(e)}` }));

  const questions: Omit<WorldQuestion, 'id' | 'split'>[] = [];
  for (const p of cast) {
    questions.push({ question: `In which city was ${p.name} born?`, golden_answers: [rel(p, 'birthplace').name], hops: 1, chain: [p.id] });
    questions.push({ question: `Which company does ${p.name} work for?`, golden_answers: [rel(p, 'employer').name], hops: 1, chain: [p.id] });
    questions.push({ question: `In which country was ${p.name} born?`, golden_answers: [rel(rel(p, 'birthplace'), 'country').name], hops: 2, chain: [p.id, rel(p, 'birthplace').id] });
    questions.push({ question: `In which city is the headquarters of the company ${p.name} works for?`, golden_answers: [rel(rel(p, 'employer'), 'headquarters').name], hops: 2, chain: [p.id, rel(p, 'employer').id] });
  }
  for (const f of films) {
    const director = rel(f, 'director');
    questions.push({ question: `Who directed ${f.name}?`, golden_answers: [director.name], hops: 1, chain: [f.id] });
    questions.push({ question: `In which city was the director of ${f.name} born?`, golden_answers: [rel(director, 'birthplace').name], hops: 2, chain: [f.id, director.id] });
    questions.push({
      question: `In which country was the director of ${f.name} born?`,
      golden_answers: [rel(rel(director, 'birthplace'), 'country').name],
      hops: 3,
      chain: [f.id, director.id, rel(director, 'birthplace').id],
    });
  }
  // Seeded shuffle, then the split.
  const shuffle = <T>(list: T[]): T[] => {
    for (let i = list.length - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      [list[i], list[j]] = [list[j]!, list[i]!];
    }
    return list;
  };
  shuffle(questions);
  const split: WorldSplit[] = validationFraction === undefined ? splitByQuestion(questions.length, testFraction) : splitByEntity(questions, shuffle, testFraction, validationFraction);
  return { seed, entities, passages, questions: questions.map((q, i) => ({ ...q, id: `q${i}`, split: split[i]! })) };
}

/** The first `round(n · testFraction)` questions (already shuffled) are test, the rest train. */
function splitByQuestion(n: number, testFraction: number): WorldSplit[] {
  const testCount = Math.round(n * testFraction);
  return Array.from({ length: n }, (_, i) => (i < testCount ? 'test' : 'train'));
}

/**
 * Whole entities (the one each question names) go to test, then validation, in a seeded order,
 * until each split holds its share of the questions; the rest are train.
 */
function splitByEntity(questions: readonly { chain: string[] }[], shuffle: <T>(list: T[]) => T[], testFraction: number, validationFraction: number): WorldSplit[] {
  const byEntity = new Map<string, number[]>();
  questions.forEach((q, i) => {
    const list = byEntity.get(q.chain[0]!) ?? [];
    list.push(i);
    byEntity.set(q.chain[0]!, list);
  });
  const want: [WorldSplit, number][] = [
    ['test', Math.round(questions.length * testFraction)],
    ['validation', Math.round(questions.length * validationFraction)],
  ];
  const split: WorldSplit[] = new Array(questions.length).fill('train');
  let next = 0;
  const groups = shuffle([...byEntity.keys()].sort()).map((k) => byEntity.get(k)!);
  for (const [name, count] of want) {
    for (let taken = 0; taken < count && next < groups.length; next++) {
      for (const i of groups[next]!) split[i] = name;
      taken += groups[next]!.length;
    }
  }
  return split;
}

/** Search-R1 corpus JSONL (`{"id", "contents"}` per line). */
export function worldCorpusJsonl(world: World): string {
  return world.passages.map((p) => JSON.stringify(p)).join('\n') + '\n';
}

/** Search-R1 data JSONL (`{"id", "question", "golden_answers", …}` per line) for one split. */
export function worldQuestionsJsonl(world: World, split: WorldSplit): string {
  return (
    world.questions
      .filter((q) => q.split === split)
      .map((q) => JSON.stringify({ id: q.id, question: q.question, golden_answers: q.golden_answers, hops: q.hops, supporting: q.chain }))
      .join('\n') + '\n'
  );
}
