//! IG-Search's reward-to-advantage path: outcome rewards, GRPO group advantages, information-gain
//! shaping, the per-token modulation that sends each search step's IG to its query tokens, and the
//! turn-level estimators of the step-level baselines (GiGPO, IGPO, MR-Search, StepSearch).
//! Formulas: docs/method.md (the project's method document).

pub mod grpo;
pub mod ig;
pub mod modulate;
pub mod reward;
pub mod turns;
