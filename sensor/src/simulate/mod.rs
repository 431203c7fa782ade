//! Traffic generation. For now a deterministic synthetic mix for benchmarks, tests and the demo;
//! the scenario simulator with ground truth will live beside it.

pub mod frame;
pub mod rng;
pub mod synthetic;
