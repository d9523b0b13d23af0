//! `lineage token`: a token for a principal of lineaged's access file; and
//! the secret files it and `lineage keygen` write.
//!
//! The token goes to a file of its own (readable by its owner only); what
//! is printed is the entry for the access file, which holds only the
//! token's hash, in the format lineaged reads (`lineage_server::auth`).

use std::io::{Read as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use crate::client::UsageError;

/// Writes a new random token (`lin_` and 64 hex digits: 256 bits) to a new
/// file and returns the `[[principal]]` entry for it.
pub fn generate_token(
    name: &str,
    roles: &[String],
    workspaces: &[String],
    path: &Path,
) -> anyhow::Result<String> {
    // Only characters that need no quoting in TOML, so the entry printed
    // is the entry read.
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._@-".contains(&b))
    {
        return Err(UsageError(format!(
            "--name {name:?}: use letters, digits and . _ @ - only"
        ))
        .into());
    }
    for workspace in workspaces.iter().filter(|ws| ws.as_str() != "*") {
        lineage_core::Workspace::parse(workspace)
            .map_err(|error| UsageError(format!("--workspace-scope {workspace:?}: {error}")))?;
    }
    if workspaces.len() > 1 && workspaces.iter().any(|ws| ws == "*") {
        return Err(UsageError("--workspace-scope '*' stands alone".into()).into());
    }
    let token = format!("lin_{}", hex::encode(random_secret()?));
    write_secret_file(path, &format!("{token}\n"))?;
    let list = |items: &[String]| {
        let quoted: Vec<String> = items.iter().map(|item| format!("\"{item}\"")).collect();
        format!("[{}]", quoted.join(", "))
    };
    Ok(format!(
        "[[principal]]\nname = \"{name}\"\ntoken_hash = \"blake3:{}\"\nroles = {}\nworkspaces = {}\n",
        blake3::hash(token.as_bytes()).to_hex(),
        list(roles),
        list(workspaces)
    ))
}

/// 32 bytes from the kernel's random source.
pub fn random_secret() -> anyhow::Result<[u8; 32]> {
    let mut secret = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut secret))
        .map_err(|error| anyhow::anyhow!("reading /dev/urandom: {error}"))?;
    Ok(secret)
}

/// Writes `text` to a new file only its owner can read; an existing file is
/// never overwritten.
pub fn write_secret_file(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|error| anyhow::anyhow!("creating {}: {error}", path.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    Ok(())
}
