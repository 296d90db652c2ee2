//! The scenarios of the benchmark doc and what they need: which bots, which map.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use serde_json::json;

/// A scenario of the benchmark doc.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// arena-N: everything visible, no shooting.
    Arena,
    /// combat-N: arena-N with shooting.
    Combat,
    /// open-world-N: a map of side 170 sqrt(N), interest management on (1600 x 900 views).
    OpenWorld,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Arena => "arena",
            Kind::Combat => "combat",
            Kind::OpenWorld => "open-world",
        }
    }
}

/// `arena-200`, or `arena` with `--n 200`: the scenario and its player count.
pub fn parse_scenario(s: &str, n: Option<usize>) -> Result<(Kind, usize)> {
    let (name, size) = match s.rsplit_once('-') {
        Some((a, b)) if b.chars().all(|c| c.is_ascii_digit()) && !b.is_empty() => {
            (a, Some(b.parse::<usize>()?))
        }
        _ => (s, None),
    };
    let kind = match name {
        "arena" => Kind::Arena,
        "combat" => Kind::Combat,
        "open-world" => Kind::OpenWorld,
        other => bail!("unknown scenario {other:?}: arena, combat or open-world"),
    };
    let n = match (size, n) {
        (Some(a), Some(b)) if a != b => bail!("{s} and --n {b} disagree"),
        (Some(a), _) | (None, Some(a)) => a,
        (None, None) => bail!("how many players? --n N (or {name}-N)"),
    };
    if n == 0 || n > 20_000 {
        bail!("--n must be 1..=20000");
    }
    Ok((kind, n))
}

/// Side of the open-world map: 170 * sqrt(N) units (about 50 others in a 1600 x 900 view).
pub fn open_world_side(n: usize) -> f64 {
    170.0 * (n as f64).sqrt()
}

/// A square map without walls of side [`open_world_side`], with spawn points on a grid
/// spread over the whole map.
pub fn write_open_world_map(dir: &Path, n: usize) -> Result<PathBuf> {
    let side = open_world_side(n).max(400.0);
    let per_row = ((n as f64).sqrt().ceil() as usize).clamp(2, 100);
    let mut spawns = Vec::new();
    for i in 0..per_row {
        for j in 0..per_row {
            let at = |k: usize| side * (k as f64 + 0.5) / per_row as f64;
            spawns.push([at(i).round(), at(j).round()]);
        }
    }
    let map = json!({
        "name": format!("Open world {n}"),
        "width": side.round(),
        "height": side.round(),
        "walls": [],
        "spawns": spawns,
    });
    let path = dir.join(format!("open-world-{n}.json"));
    std::fs::write(&path, map.to_string())?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_parse_with_or_without_the_size() {
        assert_eq!(
            parse_scenario("arena", Some(200)).unwrap(),
            (Kind::Arena, 200)
        );
        assert_eq!(
            parse_scenario("arena-500", None).unwrap(),
            (Kind::Arena, 500)
        );
        assert_eq!(
            parse_scenario("open-world-1000", None).unwrap(),
            (Kind::OpenWorld, 1000)
        );
        assert_eq!(
            parse_scenario("combat", Some(200)).unwrap(),
            (Kind::Combat, 200)
        );
        assert!(parse_scenario("arena-5", Some(6)).is_err());
        assert!(parse_scenario("arena", None).is_err());
        assert!(parse_scenario("duel", Some(2)).is_err());
    }
}
