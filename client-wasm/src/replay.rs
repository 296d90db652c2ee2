//! Replays in the browser: the same re-simulation as `tickwire-replay verify`
//! ([`tickwire_shared::replay::verify`]), run by the WASM build (exported to the page as
//! `verify_replay`). Native here, so that it is tested natively too.

use std::fmt::Write;

use tickwire_shared::replay::verify;

/// Verifies a replay file's bytes; the verdict as JSON:
/// `{"ok":bool,"ticks":N,"hashes_checked":N,"complete":bool,"first_differing_tick":N|null,
/// "error":string|null,"hashes":"hex,hex,..."}` (`hashes`: the re-simulated world hash of
/// every tick, for comparing builds).
#[must_use]
pub fn verify_json(bytes: &[u8]) -> String {
    match verify::verify(bytes) {
        Err(e) => format!(
            "{{\"ok\":false,\"error\":{:?},\"ticks\":0,\"hashes\":\"\"}}",
            e.to_string()
        ),
        Ok(v) => {
            let mut hashes = String::with_capacity(v.tick_hashes.len() * 17);
            for (i, h) in v.tick_hashes.iter().enumerate() {
                if i > 0 {
                    hashes.push(',');
                }
                let _ = write!(hashes, "{h:016x}");
            }
            let first = v
                .mismatch
                .as_ref()
                .map_or("null".to_string(), |m| m.tick.0.to_string());
            format!(
                "{{\"ok\":{},\"ticks\":{},\"hashes_checked\":{},\"complete\":{},\"first_differing_tick\":{first},\"error\":null,\"hashes\":\"{hashes}\"}}",
                v.ok(),
                v.ticks,
                v.hashes_checked,
                v.complete
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_replay_is_an_error_not_a_panic() {
        let json = verify_json(b"not a replay at all");
        assert!(
            json.starts_with("{\"ok\":false,\"error\":\"not a replay"),
            "{json}"
        );
    }
}
