//! IG-Search's reward-to-advantage path: outcome rewards, GRPO group advantages, information-gain
//! shaping, and the per-token modulation that sends each search step's IG to its query tokens.
//! Formulas: docs/method.md (the project's method document).

pub mod grpo;
pub mod ig;
pub mod modulate;
pub mod reward;
