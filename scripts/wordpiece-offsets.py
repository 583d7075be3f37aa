#!/usr/bin/env python3
"""Writes test/fixtures/wordpiece/offsets.json: ids and offsets from Hugging Face `tokenizers` (the
Rust library the BERT family's tokenizer.json files were written by) for fuzzed strings over both
committed WordPiece vocabularies. Offsets are converted from code points to UTF-16 code units, the
unit `Tokenizer.encodeWithOffsets` reports.

    pip install --no-deps --target /tmp/hftok tokenizers   # any 0.2x wheel
    PYTHONPATH=/tmp/hftok python3 scripts/wordpiece-offsets.py
"""
import json
import random

import tokenizers
from tokenizers import Tokenizer

FIXTURES = 'test/fixtures/wordpiece'
PER_VOCAB = 500


def span(a, b):
    return [chr(c) for c in range(a, b + 1)]


POOLS = [
    span(0x61, 0x7A), span(0x41, 0x5A), span(0x30, 0x39),
    list('àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖØÙÚÛÜÝŁłŒœŠšŽžĐđİıǕǖẞßǅǈΣσς'),
    span(0x300, 0x36F),
    span(0x4E00, 0x4E40), span(0xF900, 0xF910), span(0x20000, 0x20010),
    span(0xAC00, 0xAC20), span(0x3040, 0x30FF),
    span(0x391, 0x3A9), span(0x410, 0x44F),
    list('!"#%&\'()*,-./:;?@[\\]_{}«»—–…¿¡、。，！？'), list('$+<=>^`|~©®°±×÷€£¥§¶'),
    span(0x0, 0x1F) + span(0x7F, 0x9F) + span(0x200B, 0x200F) + ['\u2060', '\ufeff', '\ufffd', '\u0378'],
    [' ', ' ', '\t', '\n', '\u00a0', '\u3000', '\u2003'],
    span(0x1F600, 0x1F620),
]


def fuzzed(rng, words):
    parts = []
    for _ in range(1 + rng.randrange(10)):
        r = rng.random()
        if r < 0.4:
            w = rng.choice(words)
            parts.append(w.upper() if rng.random() < 0.2 else w.capitalize() if rng.random() < 0.2 else w)
        elif r < 0.93:
            pool = rng.choice(POOLS)
            parts.append(''.join(rng.choice(pool) for _ in range(1 + rng.randrange(6))))
        elif r < 0.97:
            parts.append(''.join(chr(97 + rng.randrange(26)) for _ in range(95 + rng.randrange(20))))
        else:
            parts.append(rng.choice(['[SEP]', '[MASK]']))
        parts.append(' ' if rng.random() < 0.7 else '')
    return ''.join(parts)


def utf16(text):
    """UTF-16 position of every code-point index (and of the end)."""
    out, units = [], 0
    for c in text:
        out.append(units)
        units += 2 if ord(c) > 0xFFFF else 1
    out.append(units)
    return out


def main():
    cases = {}
    for seed, name in enumerate(['uncased', 'cased']):
        source = open(f'{FIXTURES}/{name}.json', encoding='utf-8').read()
        tok = Tokenizer.from_str(source)
        words = [w for w in json.loads(source)['model']['vocab'] if not w.startswith('##') and not w.startswith('[')]
        rng = random.Random(91 + seed)
        rows = []
        for _ in range(PER_VOCAB):
            text = fuzzed(rng, words)
            e = tok.encode(text)
            at = utf16(text)
            rows.append({'text': text, 'ids': e.ids, 'offsets': [x for a, b in e.offsets for x in (at[a], at[b])]})
        cases[name] = rows
    with open(f'{FIXTURES}/offsets.json', 'w', encoding='utf-8') as f:
        json.dump({'tokenizers': tokenizers.__version__, 'cases': cases}, f, ensure_ascii=False, separators=(',', ':'))
        f.write('\n')
    print(f'wrote {FIXTURES}/offsets.json ({sum(len(r) for r in cases.values())} strings, tokenizers {tokenizers.__version__})')


if __name__ == '__main__':
    main()
