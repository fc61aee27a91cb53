//! The ingestion cursor: the next block to ingest, per chain, in a local file replaced atomically
//! after each block's records are acknowledged. A crash at any moment leaves either the old or the
//! new cursor, so a restart resumes at the first block not fully produced.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// What the cursor file holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CursorState {
    /// The chain's name.
    pub chain: String,
    /// Its genesis hash (`0x…`): a cursor never moves to another chain of the same name.
    pub genesis_hash: String,
    /// The first block not yet fully produced.
    pub next_block: u64,
}

/// The exclusive right to move a cursor, held while alive.
#[derive(Debug)]
pub struct CursorLock {
    _file: std::fs::File,
}

/// A cursor file.
#[derive(Debug, Clone)]
pub struct Cursor {
    path: PathBuf,
}

impl Cursor {
    /// The cursor at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Where it lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the cursor, checking it belongs to this chain.
    pub fn load(&self, chain: &str, genesis_hash: &str) -> Result<Option<u64>> {
        let Some(state) = self.read()? else {
            return Ok(None);
        };
        if state.chain != chain || state.genesis_hash != genesis_hash {
            bail!(
                "the cursor {} belongs to chain {} (genesis {}), not {chain} (genesis {genesis_hash}); use another --cursor-file",
                self.path.display(),
                state.chain,
                state.genesis_hash
            );
        }
        Ok(Some(state.next_block))
    }

    /// Reads the cursor as it is, whichever chain it belongs to (`None`: there is none yet).
    pub fn read(&self) -> Result<Option<CursorState>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot read the cursor {}", self.path.display()))
            }
        };
        serde_json::from_str(&text).map(Some).with_context(|| {
            format!(
                "the cursor {} is corrupt; delete it to start from the head",
                self.path.display()
            )
        })
    }

    /// Takes the cursor for this process: an exclusive lock on `<cursor>.lock`, held until the
    /// returned guard is dropped (or the process dies, which the OS releases). A second ingestor
    /// of the same chain with the same cursor would produce every block twice and race the first
    /// on the file; it is refused instead.
    pub fn lock(&self) -> Result<CursorLock> {
        let path = self.path.with_extension("lock");
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(CursorLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => bail!(
                "another aurras-ingestor holds the cursor {} (lock {}); stop it, or give this one another --cursor-file",
                self.path.display(),
                path.display()
            ),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("cannot lock {}", path.display()))
            }
        }
    }

    /// Replaces the cursor: write a temporary file, sync it, rename it over the old one, sync
    /// the directory.
    pub fn save(&self, state: &CursorState) -> Result<()> {
        let dir = self
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let tmp = self.path.with_extension("tmp");
        let mut file = std::fs::File::create(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        file.write_all(&serde_json::to_vec(state)?)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &self.path)
            .with_context(|| format!("cannot replace {}", self.path.display()))?;
        std::fs::File::open(dir)?.sync_all()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cursor = Cursor::new(dir.path().join("paseo.cursor"));
        let held = cursor.lock().expect("first lock");
        let refused = cursor.lock().expect_err("second lock").to_string();
        assert!(refused.contains("--cursor-file"), "{refused}");
        drop(held);
        cursor.lock().expect("free again once dropped");
    }

    #[test]
    fn round_trips_and_refuses_another_chain() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cursor = Cursor::new(dir.path().join("sub/paseo.cursor"));
        assert_eq!(cursor.load("paseo", "0x01").expect("load"), None);
        let state = CursorState {
            chain: "paseo".into(),
            genesis_hash: "0x01".into(),
            next_block: 42,
        };
        cursor.save(&state).expect("save");
        assert_eq!(cursor.load("paseo", "0x01").expect("load"), Some(42));
        let err = cursor
            .load("paseo", "0x02")
            .expect_err("other genesis")
            .to_string();
        assert!(err.contains("genesis"), "{err}");
    }
}
