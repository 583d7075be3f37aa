//! GRPO group advantages exactly as verl's `compute_grpo_outcome_advantage` computes them:
//! Â_i = (R_i − mean_G R) / (std_G R + ε) with the unbiased (N−1) standard deviation; a group of
//! one has mean 0 and std 1; `Norm::None` (Dr. GRPO) uses R_i − mean_G R.

use crate::ffi::{self, report, ErrorCode};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Norm {
    /// Divide by the group's standard deviation (GRPO).
    Std,
    /// Only subtract the group mean (Dr. GRPO).
    None,
}

/// Mean and unbiased standard deviation of one group, with verl's convention for a group of one.
pub fn group_stats(values: &[f64]) -> (f64, f64) {
    match values.len() {
        0 => (0.0, 1.0),
        1 => (0.0, 1.0),
        n => {
            let mean = values.iter().sum::<f64>() / n as f64;
            let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1) as f64;
            (mean, var.sqrt())
        }
    }
}

/// Standardises `values` within consecutive groups of `group_sizes` into `out`. Sizes must sum
/// to `values.len()` (the caller checks).
pub fn standardize(values: &[f64], group_sizes: &[u32], norm: Norm, epsilon: f64, out: &mut [f64]) {
    let mut start = 0;
    for &size in group_sizes {
        let end = start + size as usize;
        let (mean, std) = group_stats(&values[start..end]);
        for i in start..end {
            out[i] = match norm {
                Norm::Std => (values[i] - mean) / (std + epsilon),
                Norm::None => values[i] - mean,
            };
        }
        start = end;
    }
}

/// Validates ragged group sizes against a total and finite values; shared by the exports here
/// and in `ig.rs`.
pub fn check_groups(values: &[f64], group_sizes: &[u32], what: &str) -> Result<(), i32> {
    let total: u64 = group_sizes.iter().map(|&s| s as u64).sum();
    if total != values.len() as u64 {
        return Err(report(
            ErrorCode::InvalidArgument,
            &format!("{what}: group sizes sum to {total} but there are {} values", values.len()),
        ));
    }
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(report(ErrorCode::NonFinite, &format!("{what}[{i}] is {}", values[i])));
    }
    Ok(())
}

pub fn parse_norm(norm: u32) -> Result<Norm, i32> {
    match norm {
        0 => Ok(Norm::Std),
        1 => Ok(Norm::None),
        n => Err(report(ErrorCode::InvalidArgument, &format!("norm must be 0 (std) or 1 (none), got {n}"))),
    }
}

/// GRPO advantages for `n` rewards in `n_groups` consecutive groups. Writes nothing on error.
///
/// # Safety
/// `rewards`/`out` cover `n` f64, `group_sizes` covers `n_groups` u32, inside `ig_alloc` buffers.
#[no_mangle]
pub unsafe extern "C" fn ig_grpo_advantages(
    rewards: *const f64,
    n: usize,
    group_sizes: *const u32,
    n_groups: usize,
    norm: u32,
    epsilon: f64,
    out: *mut f64,
) -> i32 {
    let rewards = ffi::slice(rewards, n);
    let group_sizes = ffi::slice(group_sizes, n_groups);
    let norm = match parse_norm(norm) {
        Ok(norm) => norm,
        Err(status) => return status,
    };
    if !(epsilon.is_finite() && epsilon >= 0.0) {
        return report(ErrorCode::InvalidArgument, &format!("epsilon must be finite and >= 0, got {epsilon}"));
    }
    if let Err(status) = check_groups(rewards, group_sizes, "rewards") {
        return status;
    }
    standardize(rewards, group_sizes, norm, epsilon, ffi::slice_mut(out, n));
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verl_conventions() {
        let mut out = [0.0; 6];
        standardize(&[1.0, 0.0, 0.0, 1.0, 5.0, 2.0], &[4, 1, 1], Norm::Std, 1e-6, &mut out);
        let std = (1.0f64 / 3.0).sqrt(); // [1,0,0,1]: mean .5, unbiased var 1/3
        assert!((out[0] - 0.5 / (std + 1e-6)).abs() < 1e-12);
        assert!((out[4] - 5.0 / (1.0 + 1e-6)).abs() < 1e-12); // group of one: mean 0, std 1
        let mut same = [9.0; 3];
        standardize(&[0.0, 0.0, 0.0], &[3], Norm::Std, 1e-6, &mut same);
        assert_eq!(same, [0.0, 0.0, 0.0]);
    }
}
