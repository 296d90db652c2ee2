//! The arena map: its size, walls (axis-aligned rectangles) and spawn points. Loaded from a
//! JSON file in `assets/maps/` by the server and sent to clients in the welcome.

use bincode::{Decode, Encode};
use glam::Vec2;
use serde::{Deserialize, Serialize};

/// An axis-aligned rectangle: `x`, `y` is the corner with the smallest coordinates.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, Encode, Decode)]
pub struct Rect {
    /// Left edge.
    pub x: f32,
    /// Top edge (y grows downwards, as on screen).
    pub y: f32,
    /// Width, > 0.
    pub w: f32,
    /// Height, > 0.
    pub h: f32,
}

impl Rect {
    /// Corner with the smallest coordinates.
    #[must_use]
    pub fn min(&self) -> Vec2 {
        Vec2::new(self.x, self.y)
    }

    /// Corner with the largest coordinates.
    #[must_use]
    pub fn max(&self) -> Vec2 {
        Vec2::new(self.x + self.w, self.y + self.h)
    }

    /// The point of the rectangle closest to `p` (`p` itself when inside).
    #[must_use]
    pub fn closest_point(&self, p: Vec2) -> Vec2 {
        p.clamp(self.min(), self.max())
    }

    /// Whether the circle at `c` with radius `r` overlaps the rectangle.
    #[must_use]
    pub fn overlaps_circle(&self, c: Vec2, r: f32) -> bool {
        self.closest_point(c).distance_squared(c) < r * r
    }
}

/// A playable map.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Encode, Decode)]
pub struct Map {
    /// Display name.
    pub name: String,
    /// Width of the playable area in world units; x runs from 0 to `width`.
    pub width: f32,
    /// Height of the playable area in world units; y runs from 0 to `height`.
    pub height: f32,
    /// Solid walls.
    #[serde(default)]
    pub walls: Vec<Rect>,
    /// Where players (re)spawn, as `[x, y]`.
    pub spawns: Vec<[f32; 2]>,
    /// Where health pickups sit, as `[x, y]` (optional in the file).
    #[serde(default)]
    pub pickups: Vec<[f32; 2]>,
}

/// Why a map file was refused.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    /// The JSON did not parse as a map.
    #[error("map is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The map parsed but breaks a rule the simulation relies on.
    #[error("map is invalid: {0}")]
    Invalid(&'static str),
}

impl Map {
    /// Parses and validates a map from its JSON text.
    ///
    /// # Errors
    /// [`MapError`] when the JSON is malformed or the map is unusable.
    pub fn from_json(text: &str) -> Result<Map, MapError> {
        let map: Map = serde_json::from_str(text)?;
        map.validate()?;
        Ok(map)
    }

    /// An open square map with no walls and a grid of spawn points (benchmark arenas).
    #[must_use]
    pub fn open(name: &str, side: f32) -> Map {
        let mut spawns = Vec::new();
        for i in 1..8 {
            for j in 1..8 {
                spawns.push([side * i as f32 / 8.0, side * j as f32 / 8.0]);
            }
        }
        Map {
            name: name.to_owned(),
            width: side,
            height: side,
            walls: Vec::new(),
            spawns,
            pickups: Vec::new(),
        }
    }

    /// Checks the rules the simulation relies on: finite positive size, at least one spawn
    /// point, spawns inside the map, walls finite with positive size.
    ///
    /// # Errors
    /// [`MapError::Invalid`] naming the broken rule.
    pub fn validate(&self) -> Result<(), MapError> {
        let ok = |v: f32| v.is_finite();
        if !(ok(self.width) && ok(self.height) && self.width > 0.0 && self.height > 0.0) {
            return Err(MapError::Invalid("width and height must be finite and > 0"));
        }
        if self.spawns.is_empty() {
            return Err(MapError::Invalid("at least one spawn point is needed"));
        }
        for s in self.spawns.iter().chain(&self.pickups) {
            let inside = ok(s[0])
                && ok(s[1])
                && (0.0..=self.width).contains(&s[0])
                && (0.0..=self.height).contains(&s[1]);
            if !inside {
                return Err(MapError::Invalid(
                    "spawn and pickup points must lie inside the map",
                ));
            }
        }
        for w in &self.walls {
            if !(ok(w.x) && ok(w.y) && ok(w.w) && ok(w.h) && w.w > 0.0 && w.h > 0.0) {
                return Err(MapError::Invalid("walls must be finite with positive size"));
            }
        }
        Ok(())
    }

    /// Spawn point `i` (wrapping) as a vector.
    #[must_use]
    pub fn spawn(&self, i: usize) -> Vec2 {
        let s = self.spawns[i % self.spawns.len()];
        Vec2::new(s[0], s[1])
    }

    /// Keeps a circle of radius `r` centred at `p` inside the map and out of every wall.
    #[must_use]
    pub fn resolve_circle(&self, mut p: Vec2, r: f32) -> Vec2 {
        for wall in &self.walls {
            let c = wall.closest_point(p);
            let d = p - c;
            let dist2 = d.length_squared();
            if dist2 >= r * r {
                continue;
            }
            if dist2 > 0.0 {
                let dist = dist2.sqrt();
                p = c + d * (r / dist);
            } else {
                // Centre inside the wall: leave through the nearest side.
                let (min, max) = (wall.min(), wall.max());
                let exits = [
                    (p.x - min.x, Vec2::new(min.x - r, p.y)),
                    (max.x - p.x, Vec2::new(max.x + r, p.y)),
                    (p.y - min.y, Vec2::new(p.x, min.y - r)),
                    (max.y - p.y, Vec2::new(p.x, max.y + r)),
                ];
                let mut best = exits[0];
                for e in &exits[1..] {
                    if e.0 < best.0 {
                        best = *e;
                    }
                }
                p = best.1;
            }
        }
        p.clamp(
            Vec2::splat(r),
            Vec2::new(self.width - r, self.height - r).max(Vec2::splat(r)),
        )
    }

    /// Whether point `p` with radius `r` hits a wall or leaves the map.
    #[must_use]
    pub fn blocks(&self, p: Vec2, r: f32) -> bool {
        p.x < 0.0
            || p.y < 0.0
            || p.x > self.width
            || p.y > self.height
            || self.walls.iter().any(|w| w.overlaps_circle(p, r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn circle_is_pushed_out_of_a_wall() {
        let mut map = Map::open("t", 1000.0);
        map.walls.push(Rect {
            x: 100.0,
            y: 100.0,
            w: 100.0,
            h: 100.0,
        });
        let p = map.resolve_circle(Vec2::new(90.0, 150.0), 20.0);
        assert!((p.x - 80.0).abs() < 1e-4, "{p}");
        let inside = map.resolve_circle(Vec2::new(110.0, 150.0), 20.0);
        assert!(!map.walls[0].overlaps_circle(inside, 19.9), "{inside}");
    }

    #[test]
    fn invalid_maps_are_refused() {
        assert!(Map::from_json(r#"{"name":"x","width":10,"height":10,"spawns":[]}"#).is_err());
        assert!(Map::from_json(r#"{"name":"x","width":-1,"height":10,"spawns":[[1,1]]}"#).is_err());
        assert!(Map::from_json(r#"{"name":"x","width":10,"height":10,"spawns":[[1,1]]}"#).is_ok());
    }
}
