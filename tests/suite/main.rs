//! The integration tests, in one test binary: each file here is a module (what was
//! `tests/<name>.rs`), so that the release build links libtorch once instead of once per file
//! (about a minute per binary on 2 cores) and all tests share one pool of test threads.
//! `cargo test --test suite <module>::` runs one file's tests.

mod common;
#[cfg(feature = "torch")]
mod runs;

mod argmin;
mod budget;
mod cli;
mod crash;
mod data;
mod export;
mod frank_wolfe;
mod greedy;
mod imp;
mod layers;
mod layerwise;
mod layerwise_net;
mod mirror;
mod nn;
mod one_interface;
mod planted;
mod recovery;
mod registry;
mod run;
mod select;
mod sparse_training;
mod structured;
mod sweep;
mod thresholding;
mod zoo;
