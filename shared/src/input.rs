//! What a player asks for: [`Controls`] in a client (the browser's keys and mouse, a bot's
//! decision), [`InputMsg`] on the wire, [`PlayerInput`] in the simulation, and
//! [`PlayerInput::from_wire`], the one place where untrusted input becomes simulation input.
//!
//! A client holds [`Controls`] and sends [`Controls::to_msg`] every tick. Every button is one
//! row of [`BUTTONS`]: its bit, its name and the browser keys that hold it. The browser
//! client reads its keys from the table, the bots press buttons by name from it, the tests
//! press every button of it ([`Buttons::ALL`] is made from it). To add a button: a
//! [`Buttons`] constant and its row in [`BUTTONS`], then the rule that reads it.

use bincode::{Decode, Encode};
use glam::Vec2;

use crate::sim::rewind::ViewTime;
use crate::tick::Tick;

/// Input buttons, a bit set.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    Encode,
    Decode,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Buttons(pub u8);

impl Buttons {
    /// Fire (held: fires whenever the cooldown allows).
    pub const FIRE: Buttons = Buttons(1);
    /// Dash: a burst of speed along the movement direction, then a cooldown.
    pub const DASH: Buttons = Buttons(2);
    /// Every button of [`BUTTONS`]; other bits are cleared on receipt.
    pub const ALL: Buttons = {
        let mut all = 0;
        let mut i = 0;
        while i < BUTTONS.len() {
            all |= BUTTONS[i].bit.0;
            i += 1;
        }
        Buttons(all)
    };

    /// Whether every button of `b` is pressed.
    #[must_use]
    pub fn contains(self, b: Buttons) -> bool {
        self.0 & b.0 == b.0
    }

    /// The union of two sets.
    #[must_use]
    pub fn union(self, b: Buttons) -> Buttons {
        Buttons(self.0 | b.0)
    }

    /// `self` when `held`, else no button (`Buttons::FIRE.when(shooting)`).
    #[must_use]
    pub fn when(self, held: bool) -> Buttons {
        if held {
            self
        } else {
            Buttons::default()
        }
    }

    /// This set with `b` held or released.
    #[must_use]
    pub fn with(self, b: Buttons, held: bool) -> Buttons {
        if held {
            Buttons(self.0 | b.0)
        } else {
            Buttons(self.0 & !b.0)
        }
    }
}

/// One button of the game: a row of [`BUTTONS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Button {
    /// Its bit.
    pub bit: Buttons,
    /// Its name (bots' `--press NAME`, logs, tests).
    pub name: &'static str,
    /// The browser keys (`KeyboardEvent.code`) that hold it.
    pub keys: &'static [&'static str],
    /// Whether the main mouse button (and, on a touch screen, aiming) holds it too.
    pub pointer: bool,
}

/// Every button the game knows, the one table the browser client, the bots and the tests
/// read (each bit once; [`Buttons::ALL`] is their union).
pub const BUTTONS: &[Button] = &[
    Button {
        bit: Buttons::FIRE,
        name: "fire",
        keys: &["Space"],
        pointer: true,
    },
    Button {
        bit: Buttons::DASH,
        name: "dash",
        keys: &["ShiftLeft", "ShiftRight"],
        pointer: false,
    },
];

/// The row of [`BUTTONS`] called `name`.
#[must_use]
pub fn button_named(name: &str) -> Option<&'static Button> {
    BUTTONS.iter().find(|b| b.name == name)
}

/// One input message, as the client sends it every tick.
#[derive(Clone, Debug, PartialEq, Encode, Decode)]
pub struct InputMsg {
    /// Sequence number, one step of [`crate::seq::next`] per input: it wraps past
    /// `u32::MAX` to 1 (0 is never used); compared with [`crate::seq::is_after`].
    pub seq: u32,
    /// The server tick this input is meant for.
    pub tick: Tick,
    /// The newest snapshot tick the client has received: the server's delta baseline.
    pub ack: Option<Tick>,
    /// Pressed buttons.
    pub buttons: Buttons,
    /// Movement direction, x in `[-1, 1]`.
    pub move_x: f32,
    /// Movement direction, y in `[-1, 1]` (y grows downwards).
    pub move_y: f32,
    /// Aim angle, radians (0 = +x, growing towards +y).
    pub aim: f32,
    /// The moment the client draws other players at (its interpolation time), for lag
    /// compensation; `None`: judge shots against the present.
    pub view: Option<ViewTime>,
}

/// What a client's player is doing right now, as the browser's keys and mouse or a bot's
/// decision set it: the one client-side input type. Held between ticks; each tick's
/// [`InputMsg`] is made from it with [`Controls::to_msg`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Controls {
    /// Movement direction, x in `[-1, 1]`.
    pub move_x: f32,
    /// Movement direction, y in `[-1, 1]` (y grows downwards).
    pub move_y: f32,
    /// Aim angle, radians (0 = +x, growing towards +y).
    pub aim: f32,
    /// The buttons held (rows of [`BUTTONS`]).
    pub buttons: Buttons,
}

impl Controls {
    /// The buttons these controls hold down.
    #[must_use]
    pub fn buttons(&self) -> Buttons {
        self.buttons
    }

    /// Whether `b` is held.
    #[must_use]
    pub fn holds(&self, b: Buttons) -> bool {
        self.buttons.contains(b)
    }

    /// These controls with `b` held or released.
    #[must_use]
    pub fn with(mut self, b: Buttons, held: bool) -> Controls {
        self.buttons = self.buttons.with(b, held);
        self
    }

    /// The wire input carrying these controls: sequence number `seq`, meant for server tick
    /// `tick`, acknowledging the newest snapshot tick held (`ack`).
    #[must_use]
    pub fn to_msg(&self, seq: u32, tick: Tick, ack: Option<Tick>) -> InputMsg {
        InputMsg {
            seq,
            tick,
            ack,
            buttons: self.buttons(),
            move_x: self.move_x,
            move_y: self.move_y,
            aim: self.aim,
            view: None,
        }
    }

    /// The simulation input the server makes of these controls (through
    /// [`PlayerInput::from_wire`], its door for every input).
    ///
    /// # Errors
    /// [`InvalidInput::NonFinite`] for NaN or infinity anywhere.
    pub fn to_player_input(&self) -> Result<PlayerInput, InvalidInput> {
        PlayerInput::from_wire(&self.to_msg(0, Tick(0), None))
    }
}

/// Why an input was refused (the server closes the connection with 1007).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidInput {
    /// A NaN or infinite number.
    #[error("non-finite number in input")]
    NonFinite,
}

/// Simulation input of one player for one tick: validated, clamped and quantised, so the
/// server and the predicting client run exactly the same numbers. Replay files record it
/// as the simulation applies it (its serde encoding, see `crate::replay`).
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PlayerInput {
    /// Movement direction, length at most 1.
    pub move_dir: Vec2,
    /// Aim in 1/65536 turns.
    pub aim: u16,
    /// Pressed buttons (only known ones).
    pub buttons: Buttons,
    /// Where the client drew other players when it sent this (lag compensation).
    pub view: Option<ViewTime>,
}

/// Movement directions are multiples of `1 / DIR_SCALE` per component: the simulation runs
/// on these values and the wire carries them as one byte each (a stick's 0.8 % steps).
pub const DIR_SCALE: f32 = 120.0;

/// 1/65536 turns to radians.
#[must_use]
pub fn aim_to_radians(aim: u16) -> f32 {
    f32::from(aim) * (std::f32::consts::TAU / 65536.0)
}

/// Radians to 1/65536 turns (any finite angle; non-finite gives 0).
#[must_use]
pub fn radians_to_aim(radians: f32) -> u16 {
    if !radians.is_finite() {
        return 0;
    }
    let turns = (radians / std::f32::consts::TAU).rem_euclid(1.0);
    ((turns * 65536.0).round() as u32 & 0xFFFF) as u16
}

impl PlayerInput {
    /// Validates and normalises a wire input: non-finite numbers are refused, the move
    /// vector is clamped to length 1 and quantised to `1 / DIR_SCALE`, the aim is quantised.
    ///
    /// # Errors
    /// [`InvalidInput::NonFinite`] for NaN or infinity anywhere.
    pub fn from_wire(msg: &InputMsg) -> Result<PlayerInput, InvalidInput> {
        if !(msg.move_x.is_finite() && msg.move_y.is_finite() && msg.aim.is_finite()) {
            return Err(InvalidInput::NonFinite);
        }
        let mut dir = Vec2::new(msg.move_x.clamp(-1.0, 1.0), msg.move_y.clamp(-1.0, 1.0));
        if dir.length_squared() > 1.0 {
            dir = dir.normalize_or_zero();
        }
        let q = |f: f32| (f * DIR_SCALE).trunc() / DIR_SCALE;
        Ok(PlayerInput {
            move_dir: Vec2::new(q(dir.x), q(dir.y)),
            aim: radians_to_aim(msg.aim),
            buttons: Buttons(msg.buttons.0 & Buttons::ALL.0),
            view: msg.view,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(x: f32, y: f32, aim: f32) -> InputMsg {
        InputMsg {
            seq: 1,
            tick: Tick(0),
            ack: None,
            buttons: Buttons(0xFF),
            move_x: x,
            move_y: y,
            aim,
            view: None,
        }
    }

    #[test]
    fn hostile_numbers_are_refused_or_clamped() {
        assert!(PlayerInput::from_wire(&msg(f32::NAN, 0.0, 0.0)).is_err());
        assert!(PlayerInput::from_wire(&msg(0.0, f32::INFINITY, 0.0)).is_err());
        assert!(PlayerInput::from_wire(&msg(0.0, 0.0, f32::NEG_INFINITY)).is_err());
        let i = PlayerInput::from_wire(&msg(1e30, 1e30, 1e30)).unwrap();
        assert!(i.move_dir.length() <= 1.0);
        assert_eq!(i.buttons, Buttons::ALL);
    }

    #[test]
    fn controls_map_to_the_wire_and_the_simulation() {
        let c = Controls {
            move_x: 1.0,
            move_y: -0.5,
            aim: 1.0,
            buttons: Buttons::FIRE,
        };
        let m = c.to_msg(7, Tick(3), Some(Tick(2)));
        assert_eq!((m.seq, m.tick, m.ack), (7, Tick(3), Some(Tick(2))));
        assert_eq!(m.buttons, Buttons::FIRE);
        assert_eq!((m.move_x, m.move_y, m.aim), (1.0, -0.5, 1.0));
        assert_eq!(c.to_player_input(), PlayerInput::from_wire(&m));
        assert_eq!(Controls::default().buttons(), Buttons(0));
        let nan = Controls {
            aim: f32::NAN,
            ..Controls::default()
        };
        assert!(nan.to_player_input().is_err());
    }

    #[test]
    fn the_button_table_is_every_button_once() {
        let mut seen = 0u8;
        for b in BUTTONS {
            assert_eq!(b.bit.0.count_ones(), 1, "{}: one bit", b.name);
            assert_eq!(seen & b.bit.0, 0, "{}: its own bit", b.name);
            seen |= b.bit.0;
            assert_eq!(button_named(b.name), Some(b));
        }
        assert_eq!(Buttons(seen), Buttons::ALL);
    }

    #[test]
    fn aim_round_trips() {
        for a in [0.0f32, 1.0, 3.0, -1.0, 6.2] {
            let back = aim_to_radians(radians_to_aim(a));
            let diff = (back - a.rem_euclid(std::f32::consts::TAU)).abs();
            assert!(diff < 1e-3, "{a} -> {back}");
        }
    }
}
