//! The lineage domain: identifiers, validated events, the graph projection
//! and the questions it answers.
//!
//! Architecture invariant: this crate does no IO and knows nothing of NATS,
//! sled, tokio or protobuf. Applying an event is a pure, infallible function
//! of the graph and the event, so the graph is a pure function of the log.

pub mod as_of;
pub mod chain;
pub mod compare;
pub mod diff;
pub mod digest;
pub mod event;
pub mod filter;
pub mod graph;
pub mod id;
pub mod promotion;
pub mod query;
pub mod redaction;
pub mod search;
pub mod series;
pub mod snapshot;
pub mod watch;

/// Graph indexes, valid for the [`LineageGraph`] that returned them.
pub use petgraph::graph::{EdgeIndex, NodeIndex};

pub use as_of::{AsOf, Cut};
pub use event::{Event, EventId, EventTime, Payload, PayloadKind, Stamp};
pub use graph::{EdgeKind, LineageGraph, Node};
pub use id::{EntityKey, EntityKind, Workspace};
pub use query::{EdgeKinds, ModelTrace, NodeKinds, Subgraph, TraversalSpec, Walk};
pub use snapshot::SnapshotError;
