//! The output cache: the store, its manifests, and saving and restoring outputs.

pub mod explain;
pub mod manifest;
pub mod outputs;
pub mod restore;
pub mod signing;
pub mod store;
