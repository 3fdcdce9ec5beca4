//! Compiles `proto/` (our Mesos 1.11 wire definitions) into Rust with a
//! pure-Rust toolchain: protox parses the files, prost-build generates the
//! structs, and every message also derives `prost_reflect::ReflectMessage`
//! so the Mesos JSON mapping can work on descriptors.

use std::path::{Path, PathBuf};

fn proto_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read proto dir")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            proto_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "proto") {
            out.push(path);
        }
    }
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("proto");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    proto_files(&root, &mut files);

    let fds = protox::compile(&files, [&root]).expect("compile .proto files");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let fds_bytes = prost::Message::encode_to_vec(&fds);
    std::fs::write(out.join("file_descriptor_set.bin"), &fds_bytes).expect("write descriptors");

    let pool =
        prost_reflect::DescriptorPool::decode(fds_bytes.as_slice()).expect("descriptor pool");
    let mut config = prost_build::Config::new();
    config.include_file("wire.rs");
    config.bytes(["."]);
    for message in pool.all_messages() {
        let name = message.full_name();
        if name.starts_with("google.protobuf.") {
            continue;
        }
        // Full name without a leading dot: with one, prost-build's prefix
        // match would also hit every nested type.
        config.type_attribute(name, "#[derive(::prost_reflect::ReflectMessage)]");
        config.type_attribute(
            name,
            format!(
                "#[prost_reflect(descriptor_pool = \"crate::wire::DESCRIPTOR_POOL\", message_name = \"{name}\")]"
            ),
        );
    }
    config.compile_fds(fds).expect("generate Rust");
}
