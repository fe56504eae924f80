//! Per-object access rules in CFMS's format, and their evaluation (a pure module: no I/O).
pub mod rules;

pub use rules::{AccessType, Rule, RuleSet, Subject};
