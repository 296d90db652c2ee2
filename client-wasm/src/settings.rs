//! The player's settings, remembered in `localStorage` between visits: read and written
//! here (native, tested) through two small functions the web shell supplies.

use glam::Vec2;

use crate::touch::AimStyle;

/// The storage keys (the name's is the lobby's).
pub const NAME_KEY: &str = "tickwire.name";
const VOLUME_KEY: &str = "tickwire.volume";
const MUTED_KEY: &str = "tickwire.muted";
const FPS_KEY: &str = "tickwire.fps";
const AIM_KEY: &str = "tickwire.touch-aim";

/// What the player chose.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Name for the next join.
    pub name: String,
    /// Sound volume, 0 to 100.
    pub volume: u8,
    /// Sound muted (the in-game button).
    pub muted: bool,
    /// Show frames per second.
    pub show_fps: bool,
    /// How the right half of a touch screen aims.
    pub aim: AimStyle,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            name: String::new(),
            volume: 60,
            muted: false,
            show_fps: false,
            aim: AimStyle::Stick,
        }
    }
}

impl Settings {
    /// Reads the settings with `get` (a storage lookup); anything missing or unreadable
    /// keeps its default.
    pub fn load(get: impl Fn(&str) -> Option<String>) -> Settings {
        let d = Settings::default();
        Settings {
            name: get(NAME_KEY).map(|n| clean_name(&n)).unwrap_or(d.name),
            volume: get(VOLUME_KEY)
                .and_then(|v| v.parse::<u32>().ok())
                .map_or(d.volume, |v| v.min(100) as u8),
            muted: get(MUTED_KEY).map_or(d.muted, |v| v == "1"),
            show_fps: get(FPS_KEY).map_or(d.show_fps, |v| v == "1"),
            aim: match get(AIM_KEY).as_deref() {
                Some("point") => AimStyle::Point,
                _ => d.aim,
            },
        }
    }

    /// Writes every setting with `set`.
    pub fn save(&self, mut set: impl FnMut(&str, &str)) {
        let flag = |b: bool| if b { "1" } else { "0" };
        if !self.name.is_empty() {
            set(NAME_KEY, &self.name);
        }
        set(VOLUME_KEY, &self.volume.to_string());
        set(MUTED_KEY, flag(self.muted));
        set(FPS_KEY, flag(self.show_fps));
        set(
            AIM_KEY,
            match self.aim {
                AimStyle::Stick => "stick",
                AimStyle::Point => "point",
            },
        );
    }

    /// The gain sounds are played at: 0 when muted.
    #[must_use]
    pub fn gain(&self) -> f32 {
        if self.muted {
            0.0
        } else {
            f32::from(self.volume) / 100.0
        }
    }
}

/// A name as typed, trimmed and cut to the 24 characters the lobby allows.
#[must_use]
pub fn clean_name(name: &str) -> String {
    name.trim().chars().take(24).collect()
}

/// The camera: follows the own player smoothly (a critically damped glide, not a jump),
/// and cuts to a far target at once (a respawn across the map).
#[derive(Clone, Copy, Debug, Default)]
pub struct Camera {
    /// Where it looks, world units; `None` before the first frame.
    pub at: Option<Vec2>,
}

/// Beyond this distance the camera cuts instead of gliding (world units).
const CUT_DISTANCE: f32 = 400.0;
/// The glide's time constant, seconds.
const GLIDE_S: f32 = 0.08;

impl Camera {
    /// Moves towards `target` over `dt_s` seconds; returns where it looks now.
    pub fn follow(&mut self, target: Vec2, dt_s: f32) -> Vec2 {
        let at = match self.at {
            Some(at) if at.distance(target) <= CUT_DISTANCE => {
                let k = 1.0 - (-dt_s.max(0.0) / GLIDE_S).exp();
                at + (target - at) * k
            }
            _ => target,
        };
        self.at = Some(at);
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn settings_round_trip_through_storage_and_bad_values_keep_defaults() {
        let s = Settings {
            name: "ann".into(),
            volume: 35,
            muted: true,
            show_fps: true,
            aim: AimStyle::Point,
        };
        let mut store = HashMap::new();
        s.save(|k, v| {
            store.insert(k.to_owned(), v.to_owned());
        });
        assert_eq!(Settings::load(|k| store.get(k).cloned()), s);
        assert_eq!(s.gain(), 0.0);

        let bad: HashMap<&str, &str> = [(VOLUME_KEY, "loud"), (AIM_KEY, "?")].into();
        let d = Settings::load(|k| bad.get(k).map(|v| (*v).to_owned()));
        assert_eq!(d, Settings::default());
        assert!((d.gain() - 0.6).abs() < 1e-6);
        let big: HashMap<&str, &str> = [(VOLUME_KEY, "999")].into();
        assert_eq!(
            Settings::load(|k| big.get(k).map(|v| (*v).to_owned())).volume,
            100
        );
    }

    #[test]
    fn names_are_trimmed_and_cut() {
        assert_eq!(clean_name("  bob  "), "bob");
        assert_eq!(clean_name(&"x".repeat(40)).len(), 24);
    }

    #[test]
    fn the_camera_glides_to_a_near_target_and_cuts_to_a_far_one() {
        let mut c = Camera::default();
        assert_eq!(
            c.follow(Vec2::new(100.0, 100.0), 0.016),
            Vec2::new(100.0, 100.0)
        );
        let a = c.follow(Vec2::new(120.0, 100.0), 0.016);
        assert!(a.x > 100.0 && a.x < 120.0, "{a}");
        for _ in 0..120 {
            c.follow(Vec2::new(120.0, 100.0), 0.016);
        }
        assert!((c.at.unwrap().x - 120.0).abs() < 0.01);
        assert_eq!(c.follow(Vec2::new(2000.0, 100.0), 0.016).x, 2000.0);
    }
}
