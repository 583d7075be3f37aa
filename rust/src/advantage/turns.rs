//! Turn-level credit assignment: the step-level baselines IG-Search is compared with. A rollout is
//! a sequence of turns (the policy tokens up to and including a search call, and the final answer
//! turn); each function here turns rewards into one value per turn, which the caller broadcasts to
//! that turn's policy tokens (`modulate.rs`, additive, over the turn's spans).
//!
//!   GiGPO       A = A_episode(i) + ω·A_step: discounted returns γ^(K−1−k)·R_i normalised among the
//!               turns that share an anchor state (same question, same tokens before the turn)
//!   IGPO        turn rewards p_t − p_{t−1} (p = probability of the gold answer), outcome on the
//!               last turn, z-scored jointly per group, then A_t = r̃_t + γ·A_{t+1}
//!   MR-Search   step rewards centred leave-one-out within (group, turn index), A_s = a_s + γ·A_{s+1};
//!               the caller adds α·Â_i (GRPO on the outcome)
//!   StepSearch  per search step, gain in TF-IDF match to the gold passages minus the share of
//!               documents already retrieved (the similarity comes from the BM25 index's corpus)
//!
//! Layout: rollouts group after group (`group_sizes`), turns rollout after rollout (`turns`).
//! Formulas and sources: docs/method.md.

use crate::advantage::grpo::group_stats;
use crate::ffi::{self, report, ErrorCode};
use crate::header::{self, DiscountedReturnsHeader, GigpoHeader, IgpoHeader, MrSearchHeader};
use std::collections::HashMap;

/// Rollouts per group and turns per rollout, checked against the array lengths.
#[derive(Clone, Copy)]
pub struct Layout<'a> {
    pub group_sizes: &'a [u32],
    pub turns: &'a [u32],
}

impl Layout<'_> {
    pub fn check(&self, rollouts: usize, turn_values: usize) -> Result<(), String> {
        let total: u64 = self.group_sizes.iter().map(|&s| s as u64).sum();
        if total != self.turns.len() as u64 || total != rollouts as u64 {
            return Err(format!("group sizes sum to {total}, turns per rollout has {} entries, there are {rollouts} rollouts", self.turns.len()));
        }
        let turns: u64 = self.turns.iter().map(|&t| t as u64).sum();
        if turns != turn_values as u64 {
            return Err(format!("turns per rollout sum to {turns} but there are {turn_values} turn values"));
        }
        Ok(())
    }

    /// (group, rollout, first turn, turn count) for every rollout.
    fn rollouts(&self) -> Vec<(usize, usize, usize, usize)> {
        let mut out = Vec::with_capacity(self.turns.len());
        let (mut rollout, mut turn) = (0usize, 0usize);
        for (g, &size) in self.group_sizes.iter().enumerate() {
            for _ in 0..size {
                let k = self.turns[rollout] as usize;
                out.push((g, rollout, turn, k));
                rollout += 1;
                turn += k;
            }
        }
        out
    }
}

pub fn check_finite(values: &[f64], what: &str) -> Result<(), String> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(format!("{what}[{i}] is {}", values[i])),
        None => Ok(()),
    }
}

/// Standardises every bucket of `values` (keyed by `key`) with verl's convention (unbiased std,
/// a bucket of one has mean 0 and std 1).
fn standardize_by<K: std::hash::Hash + Eq + Copy>(values: &[f64], key: impl Fn(usize) -> K, epsilon: f64, out: &mut [f64]) {
    let mut buckets: HashMap<K, Vec<usize>> = HashMap::new();
    for i in 0..values.len() {
        buckets.entry(key(i)).or_default().push(i);
    }
    for members in buckets.values() {
        let v: Vec<f64> = members.iter().map(|&i| values[i]).collect();
        let (mean, std) = group_stats(&v);
        for &i in members {
            out[i] = (values[i] - mean) / (std + epsilon);
        }
    }
}

/// GiGPO (verl-agent `core_gigpo`, `mean_std_norm`): per turn, A_episode(i) + ω·A_step. The only
/// environment reward is the outcome R_i on the last turn, so the discounted return of turn k of
/// K is γ^(K−1−k)·R_i; returns are standardised among turns with the same (group, anchor).
pub fn gigpo(outcome: &[f64], layout: Layout, anchors: &[u32], gamma: f64, omega: f64, epsilon: f64, out: &mut [f64]) {
    let mut episode = vec![0.0; outcome.len()];
    crate::advantage::grpo::standardize(outcome, layout.group_sizes, crate::advantage::grpo::Norm::Std, epsilon, &mut episode);
    let rollouts = layout.rollouts();
    let mut returns = vec![0.0; anchors.len()];
    let mut group_of = vec![0usize; anchors.len()];
    for &(g, i, first, k) in &rollouts {
        for t in 0..k {
            returns[first + t] = gamma.powi((k - 1 - t) as i32) * outcome[i];
            group_of[first + t] = g;
        }
    }
    let mut step = vec![0.0; anchors.len()];
    standardize_by(&returns, |t| (group_of[t], anchors[t]), epsilon, &mut step);
    for &(_, i, first, k) in &rollouts {
        for t in first..first + k {
            out[t] = episode[i] + omega * step[t];
        }
    }
}

/// IGPO (GuoqingWang1/IGPO, joint normalisation): turn t < K−1 earns p_t − p_{t−1} with
/// p = exp(mean log-prob of the gold answer after that turn) and p_{−1} from the prompt alone; the
/// last turn earns the outcome. All turn rewards of a group are z-scored together (population
/// std, `sqrt(var + 1e-8)`, std 1 for fewer than two), then accumulated backwards over turns.
pub fn igpo(outcome: &[f64], prompt_scores: &[f64], turn_scores: &[f64], layout: Layout, gamma: f64, epsilon: f64, out: &mut [f64]) {
    let rollouts = layout.rollouts();
    let mut rewards = vec![0.0; turn_scores.len()];
    for &(_, i, first, k) in &rollouts {
        let mut previous = prompt_scores[i].exp();
        for t in 0..k {
            if t + 1 == k {
                rewards[first + t] = outcome[i];
            } else {
                let p = turn_scores[first + t].exp();
                rewards[first + t] = p - previous;
                previous = p;
            }
        }
    }
    let mut start = 0;
    let mut members = Vec::new();
    for &size in layout.group_sizes {
        members.clear();
        members.extend(rollouts[start..start + size as usize].iter().flat_map(|&(_, _, first, k)| first..first + k));
        start += size as usize;
        let n = members.len().max(1) as f64;
        let mean = members.iter().map(|&t| rewards[t]).sum::<f64>() / n;
        let var = members.iter().map(|&t| (rewards[t] - mean) * (rewards[t] - mean)).sum::<f64>() / n;
        let std = if members.len() <= 1 { 1.0 } else { (var + 1e-8).sqrt() };
        for &t in &members {
            rewards[t] = (rewards[t] - mean) / (std + epsilon);
        }
    }
    accumulate(&rollouts, &rewards, gamma, out);
}

/// A_t = r_t + γ·A_{t+1} within each rollout, last turn first.
fn accumulate(rollouts: &[(usize, usize, usize, usize)], rewards: &[f64], gamma: f64, out: &mut [f64]) {
    for &(_, _, first, k) in rollouts {
        let mut next = 0.0;
        for t in (first..first + k).rev() {
            next = rewards[t] + gamma * next;
            out[t] = next;
        }
    }
}

/// MR-Search's turn-level estimator: a turn with a step reward (`rewarded[t] != 0`) gets
/// r − mean(r of the other rollouts of its group at the same turn index), 0 when it has no peer;
/// then A_s = a_s + γ·A_{s+1}. (The outcome term α·Â_i is the caller's rollout advantage.)
pub fn mr_search(step_rewards: &[f64], rewarded: &[u8], layout: Layout, gamma: f64, out: &mut [f64]) {
    let rollouts = layout.rollouts();
    let mut sums: HashMap<(usize, usize), (f64, usize)> = HashMap::new();
    for &(g, _, first, k) in &rollouts {
        for s in 0..k {
            if rewarded[first + s] != 0 {
                let e = sums.entry((g, s)).or_insert((0.0, 0));
                e.0 += step_rewards[first + s];
                e.1 += 1;
            }
        }
    }
    let mut centred = vec![0.0; step_rewards.len()];
    for &(g, _, first, k) in &rollouts {
        for s in 0..k {
            let t = first + s;
            if rewarded[t] == 0 {
                continue;
            }
            let (sum, n) = sums[&(g, s)];
            centred[t] = if n > 1 { step_rewards[t] - (sum - step_rewards[t]) / (n - 1) as f64 } else { 0.0 };
        }
    }
    accumulate(&rollouts, &centred, gamma, out);
}

/// StepSearch's step reward for the searches of one rollout: `steps[t]` lists the documents step t
/// retrieved (ids into the similarity function's domain), `golds` the supporting passages.
/// G_t = mean_i max(match_t[i] − match_{t−1}[i], 0), match_t[i] = max similarity of gold i to any
/// document retrieved through step t; P_t = share of step t's documents retrieved before; r = G − P.
pub fn stepsearch_rollout(golds: &[u32], steps: &[&[u32]], similarity: &mut impl FnMut(u32, u32) -> f64, out: &mut [f64]) {
    let mut best = vec![0.0f64; golds.len()];
    let mut seen: Vec<u32> = Vec::new();
    for (t, docs) in steps.iter().enumerate() {
        let mut gain = 0.0;
        for (i, &gold) in golds.iter().enumerate() {
            let matched = docs.iter().map(|&d| similarity(gold, d)).fold(best[i], f64::max);
            gain += (matched - best[i]).max(0.0);
            best[i] = matched;
        }
        let gain = if golds.is_empty() { 0.0 } else { gain / golds.len() as f64 };
        let repeated = docs.iter().filter(|d| seen.contains(d)).count();
        let redundancy = if docs.is_empty() { 0.0 } else { repeated as f64 / docs.len() as f64 };
        for &d in docs.iter() {
            if !seen.contains(&d) {
                seen.push(d);
            }
        }
        out[t] = gain - redundancy;
    }
}

fn check_common(gamma: f64, epsilon: f64) -> Result<(), String> {
    if !(gamma.is_finite() && (0.0..=1.0).contains(&gamma)) {
        return Err(format!("gamma must be in [0, 1], got {gamma}"));
    }
    if !(epsilon.is_finite() && epsilon >= 0.0) {
        return Err(format!("epsilon must be finite and >= 0, got {epsilon}"));
    }
    Ok(())
}

fn invalid(message: String) -> i32 {
    report(ErrorCode::InvalidArgument, &message)
}

/// GiGPO per-turn advantages (episode + ω·step) for `n` rollouts and `n_turns` turns. Writes
/// nothing on error.
///
/// # Safety
/// Every pointer covers its stated count inside `ig_alloc` buffers (`out`: `n_turns` f64).
unsafe fn gigpo_advantages_call(
    outcome: *const f64,
    n: usize,
    group_sizes: *const u32,
    n_groups: usize,
    turns: *const u32,
    anchors: *const u32,
    n_turns: usize,
    gamma: f64,
    omega: f64,
    epsilon: f64,
    out: *mut f64,
) -> i32 {
    let outcome = ffi::slice(outcome, n);
    let layout = Layout { group_sizes: ffi::slice(group_sizes, n_groups), turns: ffi::slice(turns, n) };
    if let Err(m) = check_common(gamma, epsilon).and_then(|_| layout.check(n, n_turns)) {
        return invalid(m);
    }
    if !omega.is_finite() {
        return report(ErrorCode::NonFinite, &format!("omega is {omega}"));
    }
    if let Err(m) = check_finite(outcome, "outcome") {
        return report(ErrorCode::NonFinite, &m);
    }
    gigpo(outcome, layout, ffi::slice(anchors, n_turns), gamma, omega, epsilon, ffi::slice_mut(out, n_turns));
    0
}

/// IGPO per-turn advantages. `turn_scores` of each rollout's last turn are not read.
///
/// # Safety
/// As `gigpo_advantages_call`; `prompt_scores` covers `n` f64, `turn_scores` `n_turns` f64.
unsafe fn igpo_advantages_call(
    outcome: *const f64,
    prompt_scores: *const f64,
    n: usize,
    group_sizes: *const u32,
    n_groups: usize,
    turns: *const u32,
    turn_scores: *const f64,
    n_turns: usize,
    gamma: f64,
    epsilon: f64,
    out: *mut f64,
) -> i32 {
    let outcome = ffi::slice(outcome, n);
    let prompt_scores = ffi::slice(prompt_scores, n);
    let turn_scores = ffi::slice(turn_scores, n_turns);
    let layout = Layout { group_sizes: ffi::slice(group_sizes, n_groups), turns: ffi::slice(turns, n) };
    if let Err(m) = check_common(gamma, epsilon).and_then(|_| layout.check(n, n_turns)) {
        return invalid(m);
    }
    let mut last = vec![false; n_turns];
    let mut at = 0usize;
    for &k in layout.turns {
        at += k as usize;
        if k > 0 {
            last[at - 1] = true;
        }
    }
    let checks = check_finite(outcome, "outcome").and_then(|_| check_finite(prompt_scores, "promptScores")).and_then(|_| {
        match (0..n_turns).find(|&t| !last[t] && !turn_scores[t].is_finite()) {
            Some(t) => Err(format!("turnScores[{t}] is {}", turn_scores[t])),
            None => Ok(()),
        }
    });
    if let Err(m) = checks {
        return report(ErrorCode::NonFinite, &m);
    }
    igpo(outcome, prompt_scores, turn_scores, layout, gamma, epsilon, ffi::slice_mut(out, n_turns));
    0
}

/// Discounted returns within each rollout, A_t = r_t + γ·A_{t+1}: IG-Search-γ's forward credit,
/// which pays a search a discounted share of the gain of the searches after it (the ones it made
/// possible). `values` are laid out as `turns`: one per search here.
///
/// # Safety
/// As `gigpo_advantages_call`; `values` and `out` cover `n_values`.
unsafe fn discounted_returns_call(values: *const f64, n_values: usize, group_sizes: *const u32, n_groups: usize, turns: *const u32, n: usize, gamma: f64, out: *mut f64) -> i32 {
    let values = ffi::slice(values, n_values);
    let layout = Layout { group_sizes: ffi::slice(group_sizes, n_groups), turns: ffi::slice(turns, n) };
    if let Err(m) = check_common(gamma, 0.0).and_then(|_| layout.check(n, n_values)) {
        return invalid(m);
    }
    if let Err(m) = check_finite(values, "values") {
        return report(ErrorCode::NonFinite, &m);
    }
    accumulate(&layout.rollouts(), values, gamma, ffi::slice_mut(out, n_values));
    0
}

/// MR-Search per-turn advantages (without the outcome term). `step_rewards` of unrewarded turns
/// are not read.
///
/// # Safety
/// As `gigpo_advantages_call`; `rewarded` covers `n_turns` bytes.
unsafe fn mr_search_advantages_call(
    step_rewards: *const f64,
    rewarded: *const u8,
    n_turns: usize,
    group_sizes: *const u32,
    n_groups: usize,
    turns: *const u32,
    n: usize,
    gamma: f64,
    out: *mut f64,
) -> i32 {
    let step_rewards = ffi::slice(step_rewards, n_turns);
    let rewarded = ffi::slice(rewarded, n_turns);
    let layout = Layout { group_sizes: ffi::slice(group_sizes, n_groups), turns: ffi::slice(turns, n) };
    if let Err(m) = check_common(gamma, 0.0).and_then(|_| layout.check(n, n_turns)) {
        return invalid(m);
    }
    if let Some(t) = (0..n_turns).find(|&t| rewarded[t] != 0 && !step_rewards[t].is_finite()) {
        return report(ErrorCode::NonFinite, &format!("stepRewards[{t}] is {}", step_rewards[t]));
    }
    mr_search(step_rewards, rewarded, layout, gamma, ffi::slice_mut(out, n_turns));
    0
}

/// GiGPO per-turn advantages from a [`GigpoHeader`].
///
/// # Safety
/// `header` points at a whole header whose pointers cover the counts it gives (`out`: `n_turns` f64).
#[no_mangle]
pub unsafe extern "C" fn ig_gigpo_advantages(header: *const GigpoHeader) -> i32 {
    let h = match header::read(header) {
        Some(h) => h,
        None => return header::refused("ig_gigpo_advantages"),
    };
    gigpo_advantages_call(h.outcome, h.n as usize, h.group_sizes, h.n_groups as usize, h.turns, h.anchors, h.n_turns as usize, h.gamma, h.omega, h.epsilon, h.out)
}

/// IGPO per-turn advantages from an [`IgpoHeader`].
///
/// # Safety
/// As `ig_gigpo_advantages`.
#[no_mangle]
pub unsafe extern "C" fn ig_igpo_advantages(header: *const IgpoHeader) -> i32 {
    let h = match header::read(header) {
        Some(h) => h,
        None => return header::refused("ig_igpo_advantages"),
    };
    igpo_advantages_call(h.outcome, h.prompt_scores, h.n as usize, h.group_sizes, h.n_groups as usize, h.turns, h.turn_scores, h.n_turns as usize, h.gamma, h.epsilon, h.out)
}

/// Discounted returns from a [`DiscountedReturnsHeader`].
///
/// # Safety
/// As `ig_gigpo_advantages`.
#[no_mangle]
pub unsafe extern "C" fn ig_discounted_returns(header: *const DiscountedReturnsHeader) -> i32 {
    let h = match header::read(header) {
        Some(h) => h,
        None => return header::refused("ig_discounted_returns"),
    };
    discounted_returns_call(h.values, h.n_values as usize, h.group_sizes, h.n_groups as usize, h.turns, h.n as usize, h.gamma, h.out)
}

/// MR-Search per-turn advantages from an [`MrSearchHeader`].
///
/// # Safety
/// As `ig_gigpo_advantages`.
#[no_mangle]
pub unsafe extern "C" fn ig_mr_search_advantages(header: *const MrSearchHeader) -> i32 {
    let h = match header::read(header) {
        Some(h) => h,
        None => return header::refused("ig_mr_search_advantages"),
    };
    mr_search_advantages_call(h.step_rewards, h.rewarded, h.n_turns as usize, h.group_sizes, h.n_groups as usize, h.turns, h.n as usize, h.gamma, h.out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f64], b: &[f64]) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() < 1e-9, "index {i}: {x} vs {y}");
        }
    }

    #[test]
    fn gigpo_worked_by_hand() {
        // One group of two rollouts: R = [1, 0]; rollout 0 has 2 turns, rollout 1 has 1.
        // Episode: mean .5, unbiased std .7071 → ±.7071. First turns share the prompt anchor (0):
        // returns [γ·1, 0] = [.5, 0] → ±.7071; rollout 0's second turn is alone → 1 / (1 + ε).
        let layout = Layout { group_sizes: &[2], turns: &[2, 1] };
        let mut out = [0.0; 3];
        gigpo(&[1.0, 0.0], layout, &[0, 1, 0], 0.5, 1.0, 0.0, &mut out);
        let a = 0.5 / 0.5f64.sqrt();
        close(&out, &[a + a, a + 1.0, -a - a]);
    }

    #[test]
    fn igpo_worked_by_hand() {
        // One rollout, 3 turns: prompt p = .1, after turn 0 p = .4, after turn 1 p = .3, outcome 1.
        // Rewards [.3, −.1, 1]: mean .4, population var ((−.1)² + (−.5)² + .6²)/3 = .62/3.
        let layout = Layout { group_sizes: &[1], turns: &[3] };
        let mut out = [0.0; 3];
        igpo(&[1.0], &[0.1f64.ln()], &[0.4f64.ln(), 0.3f64.ln(), 123.0], layout, 0.5, 0.0, &mut out);
        let std = (0.62f64 / 3.0 + 1e-8).sqrt();
        let r = [-0.1 / std, -0.5 / std, 0.6 / std];
        let a2 = r[2];
        let a1 = r[1] + 0.5 * a2;
        close(&out, &[r[0] + 0.5 * a1, a1, a2]);
    }

    #[test]
    fn discounted_returns_stay_inside_their_rollout() {
        // Rollouts with 2, 0 and 3 searches; γ = .5: [1 + .5·2, 2], [], [4 + .5·(8 + .5·16), 8 + .5·16, 16].
        let layout = Layout { group_sizes: &[2, 1], turns: &[2, 0, 3] };
        let mut out = [0.0; 5];
        accumulate(&layout.rollouts(), &[1.0, 2.0, 4.0, 8.0, 16.0], 0.5, &mut out);
        close(&out, &[2.0, 2.0, 12.0, 16.0, 16.0]);
    }

    #[test]
    fn mr_search_leave_one_out_by_turn_index() {
        // Group of three; rewarded turns: rollout 0 [1, 2], rollout 1 [3, –], rollout 2 [5].
        // Index 0: peers of 1 are {3, 5} → 1 − 4 = −3; of 3: 3 − 3 = 0; of 5: 5 − 2 = 3.
        // Index 1: only rollout 0 → 0. γ = .5: rollout 0 turn 0 = −3 + .5·0.
        let layout = Layout { group_sizes: &[3], turns: &[2, 2, 1] };
        let mut out = [0.0; 5];
        mr_search(&[1.0, 2.0, 3.0, 9.0, 5.0], &[1, 1, 1, 0, 1], layout, 0.5, &mut out);
        close(&out, &[-3.0, 0.0, 0.0, 0.0, 3.0]);
    }

    #[test]
    fn stepsearch_gain_and_redundancy() {
        // Golds 10, 11; similarity 1 for the gold itself, .5 for doc 1 to gold 10, else 0.
        let mut sim = |g: u32, d: u32| if g == d { 1.0 } else if g == 10 && d == 1 { 0.5 } else { 0.0 };
        let mut out = [0.0; 3];
        stepsearch_rollout(&[10, 11], &[&[1, 2], &[10, 1], &[11, 10]], &mut sim, &mut out);
        // Step 0: gold 10 → .5 (gain .5), gold 11 → 0: G = .25, nothing seen: P = 0.
        // Step 1: gold 10 → 1 (gain .5): G = .25; doc 1 seen: P = .5.
        // Step 2: gold 11 → 1 (gain 1): G = .5; doc 10 seen: P = .5.
        close(&out, &[0.25, -0.25, 0.0]);
    }
}
