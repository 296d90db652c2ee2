//! Installs nginx (Debian's `nginx-light`) for the reverse-proxy end-to-end test, once and
//! idempotently: nothing happens when `nginx` is already on the PATH.

use anyhow::Result;

use crate::util::ensure_debian_tool;

/// Makes sure `nginx` can run.
pub fn ensure() -> Result<()> {
    ensure_debian_tool("nginx", &["-v"], "nginx-light", "reverse-proxy test")
}
