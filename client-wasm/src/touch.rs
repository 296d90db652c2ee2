//! Touch controls, decided here (native, tested); `web/input.rs` only forwards the pointer
//! events of fingers. A finger put down on the left half of the screen is a floating
//! virtual stick (it moves the player); one on the right half aims and fires.
//!
//! Two designs for the right half were tried on a phone-sized viewport:
//! - [`AimStyle::Point`]: aim at the point touched (from the player, drawn at the screen's
//!   centre) and fire while touching. On a phone the right half only holds the directions
//!   to the right of the player (in portrait, the thumb also covers the target), so
//!   shooting left means reaching across the stick's thumb.
//! - [`AimStyle::Stick`] (kept, the default): a second floating stick: the drag's direction
//!   is the aim, fire while held; every direction is one thumb flick away, wherever the
//!   thumb lands. A tap fires once along the last aim.

use glam::Vec2;
use tickwire_shared::input::BUTTONS;
use tickwire_shared::Controls;

/// Radius of a stick's travel, CSS pixels.
pub const STICK_RADIUS: f32 = 56.0;
/// Below this fraction of the radius a stick is centred.
const DEAD_ZONE: f32 = 0.12;
/// An aim drag shorter than this (pixels) keeps the previous aim.
const AIM_DEAD_PX: f32 = 10.0;
/// A tap keeps fire held at least this long (ms), so that an input tick carries it.
const TAP_FIRE_MS: f64 = 120.0;

/// How the right half aims.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AimStyle {
    /// A second stick: drag to aim, fire while held.
    #[default]
    Stick,
    /// Aim at the touched point, fire while touching.
    Point,
}

/// One finger on the screen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Finger {
    /// The pointer's id.
    pub id: i32,
    /// Where the stick's base is (floating: follows a finger dragged past the radius).
    pub base: Vec2,
    /// Where the finger is.
    pub at: Vec2,
}

impl Finger {
    /// The stick's deflection, length at most 1 (0 inside the dead zone).
    #[must_use]
    pub fn deflection(&self) -> Vec2 {
        let v = (self.at - self.base) / STICK_RADIUS;
        let len = v.length();
        if len < DEAD_ZONE {
            Vec2::ZERO
        } else if len > 1.0 {
            v / len
        } else {
            v
        }
    }
}

/// The fingers on the screen, and what they mean.
#[derive(Clone, Debug, Default)]
pub struct TouchPad {
    /// The right half's design.
    pub style: AimStyle,
    /// The moving finger (left half).
    pub stick: Option<Finger>,
    /// The aiming finger (right half).
    pub aim: Option<Finger>,
    /// Aim in force, radians.
    aim_angle: f32,
    /// Fire stays held until then (a tap).
    fire_until_ms: f64,
    /// Whether a finger was ever seen (the page then shows the touch layout).
    pub used: bool,
}

impl TouchPad {
    /// A finger `id` went down at `at` on a screen `width` CSS pixels wide.
    pub fn down(&mut self, id: i32, at: Vec2, width: f32, now_ms: f64) {
        self.used = true;
        let finger = Finger { id, base: at, at };
        if at.x < width / 2.0 {
            if self.stick.is_none() {
                self.stick = Some(finger);
            }
        } else if self.aim.is_none() {
            self.aim = Some(finger);
            self.fire_until_ms = now_ms + TAP_FIRE_MS;
        }
    }

    /// Finger `id` moved to `at`.
    pub fn moved(&mut self, id: i32, at: Vec2) {
        if let Some(f) = self.stick.as_mut().filter(|f| f.id == id) {
            f.at = at;
            // Floating: the base follows a finger dragged past the radius.
            let d = at - f.base;
            if d.length() > STICK_RADIUS {
                f.base = at - d.normalize() * STICK_RADIUS;
            }
        }
        if let Some(f) = self.aim.as_mut().filter(|f| f.id == id) {
            f.at = at;
        }
    }

    /// Finger `id` lifted (or the touch was cancelled).
    pub fn up(&mut self, id: i32) {
        if self.stick.is_some_and(|f| f.id == id) {
            self.stick = None;
        }
        if self.aim.is_some_and(|f| f.id == id) {
            self.aim = None;
        }
    }

    /// Every finger lifted (the page lost focus).
    pub fn clear(&mut self) {
        self.stick = None;
        self.aim = None;
    }

    /// The controls: the fingers' where they are, the `keyboard`'s (keys and mouse)
    /// otherwise; fire from either. `player` is where the own player is drawn (CSS px).
    pub fn merge(&mut self, keyboard: Controls, player: Vec2, now_ms: f64) -> Controls {
        if !self.used {
            return keyboard;
        }
        let mut c = keyboard;
        if let Some(f) = self.stick {
            let d = f.deflection();
            c.move_x = d.x;
            c.move_y = d.y;
        }
        if let Some(f) = self.aim {
            match self.style {
                AimStyle::Stick => {
                    let d = f.at - f.base;
                    if d.length() >= AIM_DEAD_PX {
                        self.aim_angle = d.y.atan2(d.x);
                    }
                }
                AimStyle::Point => {
                    let d = f.at - player;
                    if d.length() >= AIM_DEAD_PX {
                        self.aim_angle = d.y.atan2(d.x);
                    }
                }
            }
        }
        c.aim = self.aim_angle;
        // A finger aiming holds the pointer buttons (fire), as the mouse does.
        let finger = self.aim.is_some() || now_ms < self.fire_until_ms;
        for b in BUTTONS.iter().filter(|b| b.pointer) {
            c.buttons = c.buttons.with(b.bit, keyboard.holds(b.bit) || finger);
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f32::consts::{FRAC_PI_2, PI};
    use tickwire_shared::input::Buttons;

    const W: f32 = 390.0;

    fn pad() -> TouchPad {
        TouchPad::default()
    }

    #[test]
    fn without_touch_the_keyboard_and_mouse_decide() {
        let kb = Controls {
            move_x: 1.0,
            move_y: 0.0,
            aim: 1.0,
            buttons: Buttons::FIRE,
        };
        assert_eq!(pad().merge(kb, Vec2::ZERO, 0.0), kb);
    }

    #[test]
    fn the_left_stick_moves_by_its_deflection_clamped_to_one() {
        let mut p = pad();
        p.down(1, Vec2::new(80.0, 600.0), W, 0.0);
        p.moved(1, Vec2::new(80.0 + STICK_RADIUS / 2.0, 600.0));
        let c = p.merge(Controls::default(), Vec2::ZERO, 1000.0);
        assert!((c.move_x - 0.5).abs() < 1e-5 && c.move_y == 0.0, "{c:?}");
        assert!(!c.holds(Buttons::FIRE));
        // Dragged far up: full speed up, and the base follows the finger.
        p.moved(1, Vec2::new(80.0, 300.0));
        let c = p.merge(Controls::default(), Vec2::ZERO, 1000.0);
        assert!(
            (c.move_y + 1.0).abs() < 1e-5 && c.move_x.abs() < 1e-5,
            "{c:?}"
        );
        assert!((p.stick.unwrap().base.y - (300.0 + STICK_RADIUS)).abs() < 1e-3);
        // A tiny wobble is no movement.
        p.up(1);
        p.down(2, Vec2::new(80.0, 600.0), W, 0.0);
        p.moved(2, Vec2::new(82.0, 601.0));
        let c = p.merge(Controls::default(), Vec2::ZERO, 1000.0);
        assert_eq!((c.move_x, c.move_y), (0.0, 0.0));
        p.up(2);
        assert_eq!(p.merge(Controls::default(), Vec2::ZERO, 1000.0).move_x, 0.0);
    }

    #[test]
    fn the_right_stick_aims_by_its_drag_and_fires_while_held() {
        let mut p = pad();
        p.down(5, Vec2::new(300.0, 600.0), W, 0.0);
        let c = p.merge(Controls::default(), Vec2::ZERO, 500.0);
        assert!(c.holds(Buttons::FIRE));
        p.moved(5, Vec2::new(260.0, 600.0)); // dragged left
        let c = p.merge(Controls::default(), Vec2::ZERO, 500.0);
        assert!((c.aim.abs() - PI).abs() < 1e-5, "{c:?}");
        assert!(c.holds(Buttons::FIRE));
        p.up(5);
        let c = p.merge(Controls::default(), Vec2::ZERO, 500.0);
        assert!(!c.holds(Buttons::FIRE));
        assert!((c.aim.abs() - PI).abs() < 1e-5, "the aim stays: {c:?}");
    }

    #[test]
    fn a_quick_tap_on_the_right_still_fires_one_tick() {
        let mut p = pad();
        p.down(5, Vec2::new(300.0, 600.0), W, 1000.0);
        p.up(5);
        assert!(p
            .merge(Controls::default(), Vec2::ZERO, 1050.0)
            .holds(Buttons::FIRE));
        assert!(!p
            .merge(Controls::default(), Vec2::ZERO, 1200.0)
            .holds(Buttons::FIRE));
    }

    #[test]
    fn point_style_aims_at_the_finger_from_the_player() {
        let mut p = TouchPad {
            style: AimStyle::Point,
            ..pad()
        };
        p.down(5, Vec2::new(300.0, 700.0), W, 0.0);
        let c = p.merge(Controls::default(), Vec2::new(300.0, 400.0), 0.0);
        assert!((c.aim - FRAC_PI_2).abs() < 1e-5, "{c:?}");
        assert!(c.holds(Buttons::FIRE));
    }

    #[test]
    fn two_thumbs_move_and_aim_at_once_and_a_third_finger_is_ignored() {
        let mut p = pad();
        p.down(1, Vec2::new(60.0, 600.0), W, 0.0);
        p.down(2, Vec2::new(300.0, 600.0), W, 0.0);
        p.down(3, Vec2::new(100.0, 500.0), W, 0.0);
        p.moved(1, Vec2::new(60.0 + STICK_RADIUS, 600.0));
        p.moved(3, Vec2::new(100.0, 100.0));
        p.moved(2, Vec2::new(300.0, 650.0));
        let c = p.merge(Controls::default(), Vec2::ZERO, 1000.0);
        assert!((c.move_x - 1.0).abs() < 1e-5 && c.move_y == 0.0);
        assert!((c.aim - FRAC_PI_2).abs() < 1e-5 && c.holds(Buttons::FIRE));
        p.clear();
        let c = p.merge(Controls::default(), Vec2::ZERO, 1000.0);
        assert!(!c.holds(Buttons::FIRE) && c.move_x == 0.0);
    }
}
