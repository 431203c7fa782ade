//! Alerts: the event contract, the policy that decides which scores alert and folds repeats, and the
//! explanations alerts carry.

pub mod event;
pub mod explain;
pub mod policy;

pub use event::{AlertEvent, EventKind, ObserverInfo};
pub use policy::{AlertPolicy, Hit, PolicyConfig, PolicyStats, Ready};
