//! IG-Search's reward-to-advantage path: outcome rewards, GRPO group advantages, information-gain
//! shaping, and the per-token modulation that sends each search step's IG to its query tokens.
//! Formulas: README "Our formulation" (mirrors DESIGN.md "The method").

pub mod grpo;
pub mod ig;
pub mod modulate;
pub mod reward;
