//! rtask's integration tests: the real binary, run in temporary projects.

#![allow(clippy::unwrap_used)]

mod support;

mod bundle;
mod cache;
mod ci_recipe;
mod cli;
mod entries;
mod environments;
mod errors;
mod full_disk;
mod graph;
mod inputs;
mod leftovers;
mod listing;
mod logs;
mod model;
mod plan;
mod prune;
mod python;
mod python_envs;
mod python_keys;
mod remote;
mod restore_only;
mod safety;
mod validation;
mod watchdog;
