//! Models trained with ferrograd, their data sets and training loops; the
//! `ferrograd` command-line program is `src/bin/ferrograd.rs`.
#![warn(missing_docs)]

pub mod cde;
pub mod cli;
pub mod data;
pub mod decision;
pub mod export;
pub mod flow;
pub mod guard;
pub mod maml;
pub mod plot;
pub mod regress;
pub mod run;
pub mod seeds;
pub mod world;

#[cfg(test)]
mod mutated_tests;
#[cfg(test)]
mod size_claim_tests;
