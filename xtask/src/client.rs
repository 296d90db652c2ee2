//! Browser client build (placeholder until the WASM route lands).

use std::path::Path;

use anyhow::{bail, Result};

pub fn ensure_toolchain() -> Result<()> {
    Ok(())
}

pub fn build_client(_root: &Path, _out: &Path) -> Result<()> {
    bail!("the browser client build is not wired yet")
}

pub fn ensure_chromium() -> Result<()> {
    Ok(())
}
