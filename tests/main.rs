//! rtask's integration tests: the real binary, run in temporary projects.

#![allow(clippy::unwrap_used)]

mod support;

mod after;
mod bundle;
mod cache;
mod ci_recipe;
mod cli;
mod completions;
mod corpus;
mod entries;
mod environment_reasons;
mod environments;
mod errors;
mod external;
mod full_disk;
mod graph;
mod help;
mod init;
mod inputs;
mod leftovers;
mod listing;
mod logs;
mod markers;
mod model;
mod output;
mod overrides;
mod parametrize;
mod plan;
mod prune;
mod python;
mod python_envs;
mod python_keys;
mod remote;
mod replay;
mod report;
mod restore_only;
mod run_flags;
mod safety;
mod schema;
mod selection;
mod validation;
mod watchdog;
mod wheel;
