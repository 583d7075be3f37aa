//! Per-token advantages: every policy token of rollout i gets Â_i; the tokens of its k-th search
//! query get Â_i + λ·IG̃_ik (additive) or Â_i·(1 + λ·IG̃_ik) (multiplicative); retrieved-document
//! tokens are masked out of the loss. Because the IG term is added per query, a group whose
//! rollouts all failed (every Â_i = 0) still sends gradient to its queries whenever IG varies.

use crate::ffi::{self, report, ErrorCode};
use crate::header::{self, ModulationHeader};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    Additive,
    Multiplicative,
}

/// Token spans `[start, end)` of one kind (queries or retrieved documents), each tagged with the
/// rollout it belongs to, positions relative to that rollout's first token.
pub struct Spans<'a> {
    pub rollout: &'a [u32],
    pub start: &'a [u32],
    pub end: &'a [u32],
}

impl Spans<'_> {
    fn len(&self) -> usize {
        self.rollout.len()
    }

    fn check(&self, token_counts: &[u32], what: &str) -> Result<(), String> {
        for i in 0..self.len() {
            let r = self.rollout[i] as usize;
            let (s, e) = (self.start[i], self.end[i]);
            let count = match token_counts.get(r) {
                Some(&count) => count,
                None => return Err(format!("{what}[{i}]: rollout {r} out of range (there are {} rollouts)", token_counts.len())),
            };
            if s > e || e > count {
                return Err(format!("{what}[{i}]: span [{s}, {e}) out of range for rollout {r} of {count} tokens"));
            }
        }
        Ok(())
    }
}

pub struct Modulation<'a> {
    pub token_counts: &'a [u32],
    pub rollout_advantages: &'a [f64],
    pub queries: Spans<'a>,
    pub query_ig: &'a [f64],
    pub retrieved: Spans<'a>,
    pub lambda: f64,
    pub mode: Mode,
}

impl Modulation<'_> {
    /// Every check, before anything is written.
    pub fn validate(&self) -> Result<(), (ErrorCode, String)> {
        let invalid = |m: String| (ErrorCode::OutOfRange, m);
        if self.rollout_advantages.len() != self.token_counts.len() {
            return Err((ErrorCode::InvalidArgument, format!(
                "{} rollout advantages for {} rollouts",
                self.rollout_advantages.len(),
                self.token_counts.len()
            )));
        }
        if let Some(i) = self.rollout_advantages.iter().position(|v| !v.is_finite()) {
            return Err((ErrorCode::NonFinite, format!("rolloutAdvantages[{i}] is {}", self.rollout_advantages[i])));
        }
        if let Some(i) = self.query_ig.iter().position(|v| !v.is_finite()) {
            return Err((ErrorCode::NonFinite, format!("queryIg[{i}] is {}", self.query_ig[i])));
        }
        if !self.lambda.is_finite() {
            return Err((ErrorCode::NonFinite, format!("lambda is {}", self.lambda)));
        }
        self.queries.check(self.token_counts, "querySpans").map_err(invalid)?;
        self.retrieved.check(self.token_counts, "retrievedSpans").map_err(invalid)?;
        // No token may be in two spans: a query token inside retrieved text (or two queries
        // sharing a token) means the spans were computed wrongly upstream.
        let mut owner: Vec<Vec<(u32, u32, &str, usize)>> = vec![Vec::new(); self.token_counts.len()];
        for (spans, what) in [(&self.queries, "querySpans"), (&self.retrieved, "retrievedSpans")] {
            for i in 0..spans.len() {
                if spans.start[i] < spans.end[i] {
                    owner[spans.rollout[i] as usize].push((spans.start[i], spans.end[i], what, i));
                }
            }
        }
        for (r, list) in owner.iter_mut().enumerate() {
            list.sort_unstable();
            for w in list.windows(2) {
                if w[1].0 < w[0].1 {
                    return Err(invalid(format!(
                        "{}[{}] [{}, {}) overlaps {}[{}] [{}, {}) in rollout {r}",
                        w[1].2, w[1].3, w[1].0, w[1].1, w[0].2, w[0].3, w[0].0, w[0].1
                    )));
                }
            }
        }
        Ok(())
    }

    pub fn total_tokens(&self) -> usize {
        self.token_counts.iter().map(|&c| c as usize).sum()
    }

    /// Writes per-token advantages and loss mask (1 policy token, 0 retrieved token).
    pub fn write(&self, advantages: &mut [f32], mask: &mut [f32]) {
        let mut first = Vec::with_capacity(self.token_counts.len());
        let mut at = 0usize;
        for (r, &count) in self.token_counts.iter().enumerate() {
            first.push(at);
            let a = self.rollout_advantages[r] as f32;
            advantages[at..at + count as usize].fill(a);
            mask[at..at + count as usize].fill(1.0);
            at += count as usize;
        }
        for i in 0..self.queries.len() {
            let r = self.queries.rollout[i] as usize;
            let base = self.rollout_advantages[r];
            let value = match self.mode {
                Mode::Additive => base + self.lambda * self.query_ig[i],
                Mode::Multiplicative => base * (1.0 + self.lambda * self.query_ig[i]),
            } as f32;
            advantages[first[r] + self.queries.start[i] as usize..first[r] + self.queries.end[i] as usize].fill(value);
        }
        for i in 0..self.retrieved.len() {
            let r = self.retrieved.rollout[i] as usize;
            let range = first[r] + self.retrieved.start[i] as usize..first[r] + self.retrieved.end[i] as usize;
            advantages[range.clone()].fill(0.0);
            mask[range].fill(0.0);
        }
    }
}

/// Per-token advantages and loss mask for the rollouts, query spans and retrieved spans that
/// `header` describes ([`ModulationHeader`]). Returns the total token count; writes nothing on error.
///
/// # Safety
/// `header` points at a whole header whose pointers cover the counts it gives; `advantages`/`mask`
/// cover `out_len` f32 each.
#[no_mangle]
pub unsafe extern "C" fn ig_modulate_advantages(header: *const ModulationHeader) -> i32 {
    let h = match header::read(header) {
        Some(h) => h,
        None => return header::refused("ig_modulate_advantages"),
    };
    let mode = match h.mode {
        0 => Mode::Additive,
        1 => Mode::Multiplicative,
        other => return report(ErrorCode::InvalidArgument, &format!("mode must be 0 (additive) or 1 (multiplicative), got {other}")),
    };
    let (n, q, m) = (h.rollouts as usize, h.queries as usize, h.retrieved as usize);
    let modulation = Modulation {
        token_counts: ffi::slice(h.token_counts, n),
        rollout_advantages: ffi::slice(h.rollout_advantages, n),
        queries: Spans { rollout: ffi::slice(h.query_rollout, q), start: ffi::slice(h.query_start, q), end: ffi::slice(h.query_end, q) },
        query_ig: ffi::slice(h.query_ig, q),
        retrieved: Spans { rollout: ffi::slice(h.retrieved_rollout, m), start: ffi::slice(h.retrieved_start, m), end: ffi::slice(h.retrieved_end, m) },
        lambda: h.lambda,
        mode,
    };
    if let Err((code, message)) = modulation.validate() {
        return report(code, &message);
    }
    let total = modulation.total_tokens();
    if total != h.out_len as usize {
        return report(ErrorCode::InvalidArgument, &format!("output holds {} tokens, rollouts have {total}", h.out_len));
    }
    if total > i32::MAX as usize {
        return report(ErrorCode::OutOfRange, &format!("{total} tokens exceed the 2^31 limit of one call"));
    }
    modulation.write(ffi::slice_mut(h.advantages, total), ffi::slice_mut(h.mask, total));
    total as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_tokens_get_lambda_ig_retrieved_tokens_are_masked_worked_by_hand() {
        // Two rollouts of 5 and 4 tokens. Rollout 0: query at [1, 3) with IG̃ 0.5, retrieved [3, 5).
        // Rollout 1: query at [0, 1) with IG̃ −1.
        let m = Modulation {
            token_counts: &[5, 4],
            rollout_advantages: &[1.0, -0.25],
            queries: Spans { rollout: &[0, 1], start: &[1, 0], end: &[3, 1] },
            query_ig: &[0.5, -1.0],
            retrieved: Spans { rollout: &[0], start: &[3], end: &[5] },
            lambda: 2.0,
            mode: Mode::Additive,
        };
        assert!(m.validate().is_ok());
        let mut adv = vec![9.0f32; m.total_tokens()];
        let mut mask = vec![9.0f32; m.total_tokens()];
        m.write(&mut adv, &mut mask);
        assert_eq!(adv, [1.0, 2.0, 2.0, 0.0, 0.0, -2.25, -0.25, -0.25, -0.25]);
        assert_eq!(mask, [1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]);
        let times = Modulation { mode: Mode::Multiplicative, ..m };
        times.write(&mut adv, &mut mask);
        assert_eq!(adv, [1.0, 2.0, 2.0, 0.0, 0.0, 0.25, -0.25, -0.25, -0.25]); // Â·(1 + λ·IG̃)
    }

    #[test]
    fn spans_outside_their_rollout_are_refused() {
        let m = Modulation {
            token_counts: &[3],
            rollout_advantages: &[0.0],
            queries: Spans { rollout: &[0], start: &[2], end: &[4] },
            query_ig: &[1.0],
            retrieved: Spans { rollout: &[], start: &[], end: &[] },
            lambda: 1.0,
            mode: Mode::Additive,
        };
        assert!(m.validate().is_err());
    }
}
