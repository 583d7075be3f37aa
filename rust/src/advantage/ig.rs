//! Information gain of each search step and its shaping.
//!
//! IG_ik = score(D_ik) − score(D̃_ik): the mean log-probability (nats per token) of the gold answer
//! after the retrieved documents, minus the same after as many random documents. Shaping, in order:
//! optional group z-score over all steps of a group; dead zone |IG| < τ → 0; negative values × β;
//! clip to [−c, c].

use crate::advantage::grpo::{check_groups, standardize, Norm};
use crate::ffi::{self, report, ErrorCode};
use crate::header::{self, InformationGainHeader};

#[derive(Clone, Copy, Debug)]
pub struct Shaping {
    /// τ: |IG| below this is noise and becomes 0.
    pub dead_zone: f64,
    /// β: negative IG is multiplied by this (a bad query is punished less than a good one is paid).
    pub negative_scale: f64,
    /// c: the result is clipped to [−c, c].
    pub clip: f64,
    /// Standardise over all steps of the group first.
    pub group_z: bool,
    pub epsilon: f64,
}

impl Shaping {
    pub fn validate(&self) -> Result<(), String> {
        let ok = |v: f64| v.is_finite() && v >= 0.0;
        if !ok(self.dead_zone) {
            return Err(format!("deadZone must be finite and >= 0, got {}", self.dead_zone));
        }
        if !ok(self.negative_scale) {
            return Err(format!("negativeScale must be finite and >= 0, got {}", self.negative_scale));
        }
        if !(self.clip.is_finite() && self.clip > 0.0) {
            return Err(format!("clip must be finite and > 0, got {}", self.clip));
        }
        if !ok(self.epsilon) {
            return Err(format!("epsilon must be finite and >= 0, got {}", self.epsilon));
        }
        Ok(())
    }

    /// Dead zone, asymmetric scale and clip for one (already normalised) value.
    pub fn apply(&self, ig: f64) -> f64 {
        if ig.abs() < self.dead_zone {
            return 0.0;
        }
        let scaled = if ig < 0.0 { ig * self.negative_scale } else { ig };
        scaled.clamp(-self.clip, self.clip)
    }
}

/// Raw IG into `raw`, shaped IG into `shaped`; steps are grouped by `group_sizes` for `group_z`.
pub fn shape(real: &[f64], counterfactual: &[f64], group_sizes: &[u32], shaping: &Shaping, raw: &mut [f64], shaped: &mut [f64]) {
    for i in 0..real.len() {
        raw[i] = real[i] - counterfactual[i];
    }
    if shaping.group_z {
        standardize(raw, group_sizes, Norm::Std, shaping.epsilon, shaped);
    } else {
        shaped.copy_from_slice(raw);
    }
    for v in shaped.iter_mut() {
        *v = shaping.apply(*v);
    }
}

/// IG for the search steps `header` describes ([`InformationGainHeader`]): steps of all rollouts of
/// one question form a group; `real[i]`/`counterfactual[i]` are the answer scores with the
/// retrieved / random documents. Writes `raw` and `shaped` (one per step); nothing on error.
///
/// # Safety
/// `header` points at a whole header whose pointers cover the counts it gives.
#[no_mangle]
pub unsafe extern "C" fn ig_information_gain(header: *const InformationGainHeader) -> i32 {
    let h = match header::read(header) {
        Some(h) => h,
        None => return header::refused("ig_information_gain"),
    };
    let shaping = Shaping { dead_zone: h.dead_zone, negative_scale: h.negative_scale, clip: h.clip, group_z: h.group_z != 0, epsilon: h.epsilon };
    if let Err(message) = shaping.validate() {
        return report(ErrorCode::InvalidArgument, &message);
    }
    let n = h.steps as usize;
    let real = ffi::slice(h.real, n);
    let counterfactual = ffi::slice(h.counterfactual, n);
    let group_sizes = ffi::slice(h.group_sizes, h.groups as usize);
    if let Err(status) = check_groups(real, group_sizes, "real scores") {
        return status;
    }
    if let Err(status) = check_groups(counterfactual, group_sizes, "counterfactual scores") {
        return status;
    }
    shape(real, counterfactual, group_sizes, &shaping, ffi::slice_mut(h.raw, n), ffi::slice_mut(h.shaped, n));
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shaping_order() {
        let s = Shaping { dead_zone: 0.05, negative_scale: 0.5, clip: 2.0, group_z: false, epsilon: 1e-6 };
        assert_eq!(s.apply(0.04), 0.0);
        assert_eq!(s.apply(-0.04), 0.0);
        assert_eq!(s.apply(0.3), 0.3);
        assert_eq!(s.apply(-0.3), -0.15);
        assert_eq!(s.apply(5.0), 2.0);
        assert_eq!(s.apply(-5.0), -2.0);
        assert_eq!(s.apply(-3.0), -1.5);
    }
}
