//! rtask's integration tests: the real binary, run in temporary projects.

#![allow(clippy::unwrap_used)]

mod support;

mod bundle;
mod cache;
mod ci_recipe;
mod cli;
mod errors;
mod graph;
mod inputs;
mod listing;
mod model;
mod plan;
mod python;
mod python_envs;
mod python_keys;
mod remote;
mod restore_only;
mod safety;
mod validation;
