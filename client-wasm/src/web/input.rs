//! Keyboard, mouse and fingers: WASD or arrows move, the mouse aims, the buttons of the one
//! table (`tickwire_shared::input::BUTTONS`: click or space fires, ...) are held by their keys,
//! Tab holds the scoreboard, F3 toggles the debug overlay, Escape the settings. Fingers on
//! the canvas (touch pointer events) go to [`TouchPad`], which decides what they mean.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;

use glam::Vec2;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{HtmlCanvasElement, KeyboardEvent, MouseEvent, PointerEvent, Window};

use crate::touch::TouchPad;
use tickwire_shared::input::{Buttons, BUTTONS};
use tickwire_shared::Controls;

/// What the player holds and where the mouse is.
#[derive(Default)]
pub struct InputState {
    keys: HashSet<String>,
    mouse: (f64, f64),
    mouse_down: bool,
    /// F3 toggled the debug overlay.
    pub debug: bool,
    /// Escape pressed (toggles the settings), not yet handled.
    pub escape: bool,
    /// The player touched, clicked or pressed a key: sound may start.
    pub gestured: bool,
    /// The fingers.
    pub touch: TouchPad,
}

impl InputState {
    fn held(&self, codes: &[&str]) -> bool {
        codes.iter().any(|c| self.keys.contains(*c))
    }

    /// Controls for a player drawn at `center` (CSS pixels), at `now_ms`.
    pub fn controls(&mut self, center: (f64, f64), now_ms: f64) -> Controls {
        let keyboard = self.keyboard(center);
        let at = Vec2::new(center.0 as f32, center.1 as f32);
        self.touch.merge(keyboard, at, now_ms)
    }

    fn keyboard(&self, center: (f64, f64)) -> Controls {
        let axis = |neg: bool, pos: bool| f32::from(u8::from(pos)) - f32::from(u8::from(neg));
        Controls {
            move_x: axis(
                self.held(&["KeyA", "ArrowLeft"]),
                self.held(&["KeyD", "ArrowRight"]),
            ),
            move_y: axis(
                self.held(&["KeyW", "ArrowUp"]),
                self.held(&["KeyS", "ArrowDown"]),
            ),
            aim: (self.mouse.1 - center.1).atan2(self.mouse.0 - center.0) as f32,
            // Every button from the one table: its keys, and the mouse for pointer buttons.
            buttons: BUTTONS.iter().fold(Buttons::default(), |held, b| {
                held.with(b.bit, self.held(b.keys) || (b.pointer && self.mouse_down))
            }),
        }
    }

    /// Whether the scoreboard key is held.
    pub fn scores(&self) -> bool {
        self.held(&["Tab"])
    }
}

/// Event listeners by event name, kept alive while they are registered.
type Handlers = Vec<(&'static str, Closure<dyn FnMut(web_sys::Event)>)>;

/// The listeners (kept alive here, removed on drop).
pub struct Input {
    pub state: Rc<RefCell<InputState>>,
    window: Window,
    handlers: Handlers,
    /// On the canvas, which lives as long as the page.
    _finger_handlers: Handlers,
}

/// `KeyboardEvent.code`, falling back on a code made from `key` (some drivers send only one).
fn code_of(e: &KeyboardEvent) -> String {
    let code = e.code();
    if !code.is_empty() {
        return code;
    }
    match e.key().as_str() {
        " " => "Space".into(),
        k if k.len() == 1 => format!("Key{}", k.to_ascii_uppercase()),
        k => k.to_owned(),
    }
}

impl Input {
    /// Listens on `window` (keys, mouse) and `canvas` (fingers).
    pub fn attach(window: &Window, canvas: &HtmlCanvasElement) -> Result<Input, JsValue> {
        let state = Rc::new(RefCell::new(InputState::default()));
        let mut handlers: Handlers = Vec::new();

        let s = state.clone();
        handlers.push((
            "keydown",
            Closure::new(move |e: web_sys::Event| {
                let Some(e) = e.dyn_ref::<KeyboardEvent>() else {
                    return;
                };
                let code = code_of(e);
                let button = BUTTONS.iter().any(|b| b.keys.contains(&code.as_str()));
                if matches!(code.as_str(), "Tab" | "F3") || button || code.starts_with("Arrow") {
                    e.prevent_default();
                }
                let mut st = s.borrow_mut();
                st.gestured = true;
                if code == "F3" && !e.repeat() {
                    st.debug = !st.debug;
                }
                if code == "Escape" && !e.repeat() {
                    st.escape = true;
                }
                st.keys.insert(code);
            }),
        ));
        let s = state.clone();
        handlers.push((
            "keyup",
            Closure::new(move |e: web_sys::Event| {
                let Some(e) = e.dyn_ref::<KeyboardEvent>() else {
                    return;
                };
                s.borrow_mut().keys.remove(&code_of(e));
            }),
        ));
        let s = state.clone();
        handlers.push((
            "blur",
            Closure::new(move |_e: web_sys::Event| {
                let mut st = s.borrow_mut();
                st.keys.clear();
                st.mouse_down = false;
                st.touch.clear();
            }),
        ));
        let s = state.clone();
        handlers.push((
            "mousemove",
            Closure::new(move |e: web_sys::Event| {
                if let Some(e) = e.dyn_ref::<MouseEvent>() {
                    s.borrow_mut().mouse = (f64::from(e.client_x()), f64::from(e.client_y()));
                }
            }),
        ));
        let s = state.clone();
        handlers.push((
            "mousedown",
            Closure::new(move |e: web_sys::Event| {
                if let Some(e) = e.dyn_ref::<MouseEvent>() {
                    let mut st = s.borrow_mut();
                    st.gestured = true;
                    if e.button() == 0 {
                        st.mouse_down = true;
                    }
                }
            }),
        ));
        let s = state.clone();
        handlers.push((
            "mouseup",
            Closure::new(move |e: web_sys::Event| {
                if let Some(e) = e.dyn_ref::<MouseEvent>() {
                    if e.button() == 0 {
                        s.borrow_mut().mouse_down = false;
                    }
                }
            }),
        ));
        for (name, h) in &handlers {
            window.add_event_listener_with_callback(name, h.as_ref().unchecked_ref())?;
        }
        // Fingers: only on the canvas (the room bar and menus keep their own taps). The
        // default (scroll, zoom, the mouse events a touch emulates) is prevented.
        let mut finger_handlers: Handlers = Vec::new();
        for kind in ["pointerdown", "pointermove", "pointerup", "pointercancel"] {
            let s = state.clone();
            let w = window.clone();
            finger_handlers.push((
                kind,
                Closure::new(move |e: web_sys::Event| {
                    let Some(e) = e.dyn_ref::<PointerEvent>() else {
                        return;
                    };
                    if e.pointer_type() != "touch" {
                        return;
                    }
                    e.prevent_default();
                    let at = Vec2::new(e.client_x() as f32, e.client_y() as f32);
                    let now = w.performance().map_or(0.0, |p| p.now());
                    let width = w
                        .inner_width()
                        .ok()
                        .and_then(|v| v.as_f64())
                        .unwrap_or(800.0) as f32;
                    let mut st = s.borrow_mut();
                    st.gestured = true;
                    let id = e.pointer_id();
                    match e.type_().as_str() {
                        "pointerdown" => st.touch.down(id, at, width, now),
                        "pointermove" => st.touch.moved(id, at),
                        _ => st.touch.up(id),
                    }
                }),
            ));
        }
        for (name, h) in &finger_handlers {
            canvas.add_event_listener_with_callback(name, h.as_ref().unchecked_ref())?;
        }
        Ok(Input {
            state,
            window: window.clone(),
            handlers,
            _finger_handlers: finger_handlers,
        })
    }
}

impl Drop for Input {
    fn drop(&mut self) {
        for (name, h) in &self.handlers {
            let _ = self
                .window
                .remove_event_listener_with_callback(name, h.as_ref().unchecked_ref());
        }
    }
}
