//! The wire edge of lineage: generated `lineage.v1` types and their conversions.
pub mod v1 {
    #![allow(missing_docs, missing_debug_implementations, clippy::all, clippy::pedantic)]
    include!(concat!(env!("OUT_DIR"), "/lineage.v1.rs"));
    include!(concat!(env!("OUT_DIR"), "/lineage.v1.serde.rs"));
}
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/lineage_descriptor.bin"));
