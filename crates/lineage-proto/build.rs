//! Generates the lineage.v1 message types (prost), the gRPC service (tonic),
//! the proto3 JSON mapping (pbjson) and the encoded descriptor set that the
//! server's reflection service publishes. protoc comes from the
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

    let mut prost_config = prost_build::Config::new();
    prost_config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Clients build their own Channel, so this crate needs no transport.
        .build_transport(false)
        .file_descriptor_set_path(&descriptor_path)
        // Maps as BTreeMap keep the protobuf encoding deterministic, which the
        // content digest behind duplicate detection relies on.
        .btree_map(".")
        .compile_well_known_types(true)
        .extern_path(".google.protobuf", "::pbjson_types")
        .compile_with_config(
            prost_config,
            &protos,
            &[proto_root, protoc_bin_vendored::include_path()?],
        )?;

    let descriptor_set = std::fs::read(&descriptor_path)?;
    pbjson_build::Builder::new()
        .register_descriptors(&descriptor_set)?
        .btree_map(["."])
        .preserve_proto_field_names()
        .build(&[".lineage"])?;
    Ok(())
}
