//! The edge sensor library: capture → decode → flows → features (→ models, alerts, sinks in later
//! stages). `pipeline` wires the stages; `cli` sits on top.

pub mod capture;
pub mod cli;
pub mod config;
pub mod decode;
pub mod demo;
pub mod export;
pub mod features;
pub mod flow;
pub mod pipeline;
pub mod simulate;
pub mod timefmt;
