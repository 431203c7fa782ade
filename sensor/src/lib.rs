//! The edge sensor library: capture → decode → flows → features → models → alerts (sinks in a later
//! stage). `pipeline` and `detect` wire the stages; `cli` sits on top.

pub mod alert;
pub mod capture;
pub mod cli;
pub mod config;
pub mod context;
pub mod decode;
pub mod demo;
pub mod detect;
pub mod export;
pub mod features;
pub mod flow;
pub mod model;
pub mod pipeline;
pub mod simulate;
pub mod timefmt;
