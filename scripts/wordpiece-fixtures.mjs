#!/usr/bin/env node
// Writes test/fixtures/wordpiece/{uncased,cased}.json: two small BERT-style WordPiece
// tokenizer.json files (BertNormalizer, BertPreTokenizer, [CLS] $A [SEP], the WordPiece decoder),
// for testing the core's WordPiece against @huggingface/tokenizers. No npm package ships a
// BERT-family tokenizer.json, so the vocabularies are built here, deterministically, from the demo
// world's passages and a few paragraphs in other scripts:
//   - every character seen, as a word start and as a "##" continuation, except every 29th
//     continuation character (so some words cannot be covered and become [UNK]);
//   - the most frequent words, and the most frequent 2–4 character word endings as "##" pieces and
//     3–5 character beginnings (so greedy longest-match has real choices to make).
// The uncased file lowercases and strips accents; the cased one does neither. Re-run to rebuild:
//   node scripts/wordpiece-fixtures.mjs
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';

const root = new URL('..', import.meta.url).pathname;
const passages = readFileSync(`${root}assets/demo-policy/corpus.jsonl`, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l).contents);
const OTHER_SCRIPTS = [
  'Le café de la gare était fermé; nous sommes allés à Élise, où l’hôtel déjà complet nous a refusé.',
  'Über die Brücke gingen fünf Männer, die Straße war naß und größer als gedacht.',
  'El niño pidió más información: ¿dónde está la estación? ¡Qué difícil!',
  'Η γρήγορη καφέ αλεπού πηδά πάνω από τον τεμπέλη σκύλο. ΟΔΟΣ Αθηνών.',
  'Съешь же ещё этих мягких французских булок, да выпей чаю. Москва — столица России.',
  '北京是中国的首都。东京是日本的首都，人口很多。我们学习自然语言处理。',
  'こんにちは、世界。カタカナとひらがなを使います。日本語の文章です。',
  '서울은 한국의 수도입니다. 한국어 문장을 토큰화합니다.',
  'مرحبا بالعالم، هذا نص عربي قصير مع أرقام ١٢٣.',
  'Naïve coöperation, résumé, façade, jalapeño, Ångström, Ωmega, İstanbul, Øresund, Łódź, Đà Nẵng.',
];
const PUNCT = /[\p{P}\u0021-\u002F\u003A-\u0040\u005B-\u0060\u007B-\u007E]/u;
const words = (text) => text.split(/\s+/u).flatMap((w) => w.split(new RegExp(`(${PUNCT.source})`, 'u'))).filter(Boolean);
const chineseSpaced = (text) => text.replace(/[\u4e00-\u9fff\u3400-\u4dbf\uf900-\ufaff]/gu, ' $& ');

function build(normalize) {
  const count = new Map();
  for (const text of [...passages, ...OTHER_SCRIPTS]) for (const w of words(normalize(chineseSpaced(text)))) count.set(w, (count.get(w) ?? 0) + 1);
  const byFrequency = [...count].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
  const seen = new Set(vocab);
  const add = (t) => {
    if (!seen.has(t)) {
      seen.add(t);
      vocab.push(t);
    }
  };
  const chars = [...new Set(byFrequency.flatMap(([w]) => [...w]))].sort();
  chars.forEach((c) => add(c));
  chars.forEach((c, i) => i % 29 !== 7 && add(`##${c}`));
  for (const [w] of byFrequency.slice(0, 1500)) add(w);
  const pieces = new Map();
  for (const [w, n] of byFrequency) {
    const cs = [...w];
    for (let k = 2; k <= 4 && k < cs.length; k++) pieces.set(`##${cs.slice(-k).join('')}`, (pieces.get(`##${cs.slice(-k).join('')}`) ?? 0) + n);
    for (let k = 3; k <= 5 && k < cs.length; k++) pieces.set(cs.slice(0, k).join(''), (pieces.get(cs.slice(0, k).join('')) ?? 0) + n);
  }
  [...pieces].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 1500).forEach(([p]) => add(p));
  return vocab;
}

const special = (content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
function tokenizerJson(vocab, lowercase) {
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].map((t, i) => special(t, i)),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }, { SpecialToken: { id: '[SEP]', type_id: 1 } }],
      special_tokens: { '[CLS]': { id: '[CLS]', ids: [2], tokens: ['[CLS]'] }, '[SEP]': { id: '[SEP]', ids: [3], tokens: ['[SEP]'] } },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: Object.fromEntries(vocab.map((t, i) => [t, i])) },
  };
}

const uncased = (t) => t.toLowerCase().normalize('NFD').replace(/\p{Mn}/gu, '');
mkdirSync(`${root}test/fixtures/wordpiece`, { recursive: true });
for (const [name, normalize, lowercase] of [['uncased', uncased, true], ['cased', (t) => t, false]]) {
  const vocab = build(normalize);
  writeFileSync(`${root}test/fixtures/wordpiece/${name}.json`, JSON.stringify(tokenizerJson(vocab, lowercase)) + '\n');
  console.log(`test/fixtures/wordpiece/${name}.json: ${vocab.length} tokens`);
}
