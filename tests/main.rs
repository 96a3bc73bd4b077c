//! rtask's integration tests: the real binary, run in temporary projects.

#![allow(clippy::unwrap_used)]

mod support;

mod bundle;
mod cache;
mod cli;
mod errors;
mod graph;
mod inputs;
mod model;
mod plan;
mod python;
mod python_envs;
mod safety;
mod validation;
