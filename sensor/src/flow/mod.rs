//! Bidirectional flows: the key, the table (timeouts, checkpoints, bounds), the records it emits.

pub mod community_id;

/// Direction of a packet relative to its flow's initiator (the sender of the first packet seen).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the initiator to the responder.
    Forward = 0,
    /// From the responder to the initiator.
    Backward = 1,
}

pub mod huge;
pub mod index;
pub mod key;
pub mod record;
pub mod sink;
pub mod table;

pub use key::FlowKey;
pub use record::{EndReason, FlowRecord, HopChain, NetDirection, RecordContext, RecordKind};
pub use sink::{FlowSink, FlowStart};
pub use table::{FlowTable, FlowTableConfig, FlowTableStats};
