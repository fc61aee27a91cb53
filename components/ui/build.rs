//! Embeds the built page (`ui/dist`, made by `npm --prefix ui run build`) into the component: one
//! artifact to deploy, no `files` mount to keep in step, and each file's ETag computed once here.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use blake2::digest::{Update, VariableOutput};
use blake2::Blake2bVar;

fn files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            files(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

fn content_type(path: &Path) -> Option<&'static str> {
    // The page ships a handful of file types; an unknown one fails the build rather than being
    // served with a guessed type.
    Some(match path.extension()?.to_str()? {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "map" => "application/json",
        "json" => "application/json",
        "webmanifest" => "application/manifest+json",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        _ => return None,
    })
}

fn etag(bytes: &[u8]) -> String {
    let mut hasher = Blake2bVar::new(16).expect("16 is a valid BLAKE2b output size");
    hasher.update(bytes);
    let mut digest = [0u8; 16];
    hasher
        .finalize_variable(&mut digest)
        .expect("the buffer is the requested size");
    digest.iter().fold(String::from("\""), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    }) + "\""
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let dist = manifest.join("../../ui/dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    let mut paths = Vec::new();
    if let Err(e) = files(&dist, &mut paths) {
        panic!(
            "the page is not built ({}: {e}); run `npm --prefix ui ci && npm --prefix ui run build` \
             (scripts/build-components does)",
            dist.display()
        );
    }
    paths.sort();
    let mut table = String::from("static ASSETS: &[Asset] = &[\n");
    for path in &paths {
        println!("cargo:rerun-if-changed={}", path.display());
        let bytes = std::fs::read(path).expect("a file just listed is readable");
        let route = path
            .strip_prefix(&dist)
            .expect("listed under dist")
            .to_str()
            .expect("the page's file names are UTF-8");
        let kind = content_type(path)
            .unwrap_or_else(|| panic!("no content type for {route}; add it to build.rs"));
        let absolute = path.canonicalize().expect("the file exists");
        writeln!(
            table,
            "    Asset {{ path: {:?}, content_type: {kind:?}, etag: {:?}, body: include_bytes!({:?}) }},",
            format!("/{route}"),
            etag(&bytes),
            absolute.display().to_string(),
        )
        .expect("writing to a String");
    }
    table.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("assets.rs");
    std::fs::write(out, table).expect("OUT_DIR is writable");
}
