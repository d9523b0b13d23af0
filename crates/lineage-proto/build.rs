//! Generates the lineage.v1 message types (prost), the gRPC client (tonic),
//! the proto3 JSON mapping (pbjson), the encoded descriptor set that the
//! server's reflection service publishes, and the gRPC server, whose
//! answers of many entities are `encode::Encoded` bytes (written from the
//! graph) instead of the prost structs. protoc comes from the
//! protoc-bin-vendored crate so that a machine with only Rust can build.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let proto_root = manifest_dir.join("../../proto");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let descriptor_path = out_dir.join("lineage_descriptor.bin");

    let protos = [
        proto_root.join("lineage/v1/events.proto"),
        proto_root.join("lineage/v1/service.proto"),
    ];
    for proto in &protos {
        println!("cargo:rerun-if-changed={}", proto.display());
    }

    let includes = [proto_root, protoc_bin_vendored::include_path()?];
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(false)
        // Clients build their own Channel, so this crate needs no transport.
        .build_transport(false)
        .file_descriptor_set_path(&descriptor_path)
        // Maps as BTreeMap keep the protobuf encoding deterministic, which the
        // content digest behind duplicate detection relies on.
        .btree_map(".")
        .compile_well_known_types(true)
        .extern_path(".google.protobuf", "::pbjson_types")
        .compile_with_config(prost_config()?, &protos, &includes)?;

    // The server: every message is the one generated above, but for the
    // answers the server writes itself. No message is generated here.
    let server_dir = out_dir.join("server");
    std::fs::create_dir_all(&server_dir)?;
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(true)
        .build_transport(false)
        .out_dir(&server_dir)
        .compile_well_known_types(true)
        .extern_path(".google.protobuf", "::pbjson_types")
        .extern_path(".lineage.v1", "crate::v1")
        .extern_path(".lineage.v1.Entity", "crate::encode::EncodedEntity")
        .extern_path(".lineage.v1.Subgraph", "crate::encode::EncodedSubgraph")
        .extern_path(
            ".lineage.v1.RunsUsingDatasetResponse",
            "crate::encode::EncodedRunsPage",
        )
        .extern_path(".lineage.v1.ModelTrace", "crate::encode::EncodedModelTrace")
        .compile_with_config(prost_config()?, &protos, &includes)?;

    let descriptor_set = std::fs::read(&descriptor_path)?;
    pbjson_build::Builder::new()
        .register_descriptors(&descriptor_set)?
        .btree_map(["."])
        .preserve_proto_field_names()
        .build(&[".lineage"])?;
    Ok(())
}

/// prost's settings for both runs: the vendored protoc.
fn prost_config() -> Result<prost_build::Config, Box<dyn std::error::Error>> {
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    Ok(config)
}
