//! `cargo xtask docs`: rewrites the generated documentation (docs/events.md from the UAM
//! catalogue), so that the page and the code cannot drift (a trail-model test fails when they do).

use std::path::Path;

use anyhow::{Context, Result};

/// Writes docs/events.md under the workspace root.
pub fn generate() -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path = root.join(trail_model::docs::EVENTS_MD_PATH);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(&path, trail_model::docs::events_markdown())
        .with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!("xtask: wrote {}", path.display());
    Ok(())
}
