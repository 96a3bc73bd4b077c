//! The output cache: the store, its manifests, saving and restoring outputs, and bundles that
//! carry entries to other
//! machines, and pruning that keeps it bounded.

pub mod blob;
pub mod blob_capture;
pub mod bundle;
pub mod explain;
pub mod input_list;
pub(crate) mod limits;
pub mod manifest;
pub mod outputs;
pub(crate) mod prune;
pub mod restore;
pub mod signing;
pub mod store;
pub(crate) mod temps;
pub(crate) mod usage;
