import { describe, expect, it } from 'vitest';
import { closeStoppedTurn, lastAnswer, parseTurn } from '../src/rollout/turn.js';

describe('the Search-R1 turn parser', () => {
  it('reads a closed search: the trimmed query and the raw range between the tags', () => {
    const turn = '<think>who?</think>\n<search>  Ada Lovelace </search>';
    const action = parseTurn(turn);
    expect(action).toEqual({ kind: 'search', query: 'Ada Lovelace', from: turn.indexOf('<search>') + 8, to: turn.indexOf('</search>') });
    if (action.kind === 'search') expect(turn.slice(action.from, action.to)).toBe('  Ada Lovelace ');
  });

  it('an answer wins over a search in the same turn; an open tag keeps decoding; a bare close is an empty search', () => {
    expect(parseTurn('<search> x </search> <answer> y </answer>')).toEqual({ kind: 'answer' });
    expect(parseTurn('<think>hm</think><search> half a quer')).toEqual({ kind: 'continue' });
    expect(parseTurn('no opener </search>')).toEqual({ kind: 'search', query: '', from: 10, to: 10 });
    expect(parseTurn('<search>   </search>')).toMatchObject({ kind: 'search', query: '' });
  });

  it('the query is the text after the last opener before the first close', () => {
    expect(parseTurn('<search> a <search> b </search> c </search>')).toMatchObject({ query: 'b' });
  });

  it('closeStoppedTurn restores the stripped stop string of the tag opened last', () => {
    expect(closeStoppedTurn('<think>t</think><search> q ')).toBe('<think>t</think><search> q </search>');
    expect(closeStoppedTurn('<search> q </search><information>…</information><answer> Paris ')).toBe('<search> q </search><information>…</information><answer> Paris </answer>');
    expect(closeStoppedTurn('just thinking')).toBeUndefined();
  });

  it('lastAnswer: the last complete answer, trimmed', () => {
    expect(lastAnswer('<answer> a </answer> then <answer> b </answer>')).toBe('b');
    expect(lastAnswer('<answer> unfinished')).toBeUndefined();
    expect(lastAnswer('</answer> without opener')).toBeUndefined();
  });
});
