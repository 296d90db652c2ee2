//! Keyboard and mouse: WASD or arrows move, the mouse aims, click or space fires, Tab holds
//! the scoreboard, F3 toggles the debug overlay.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{KeyboardEvent, MouseEvent, Window};

use tickwire_shared::Controls;

/// What the player holds and where the mouse is.
#[derive(Default)]
pub struct InputState {
    keys: HashSet<String>,
    mouse: (f64, f64),
    mouse_down: bool,
    /// F3 toggled the debug overlay.
    pub debug: bool,
}

impl InputState {
    fn held(&self, codes: &[&str]) -> bool {
        codes.iter().any(|c| self.keys.contains(*c))
    }

    /// Controls for a player drawn at `center` (CSS pixels).
    pub fn controls(&self, center: (f64, f64)) -> Controls {
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
            fire: self.mouse_down || self.held(&["Space"]),
        }
    }

    /// Whether the scoreboard key is held.
    pub fn scores(&self) -> bool {
        self.held(&["Tab"])
    }
}

/// The listeners (kept alive here, removed on drop).
pub struct Input {
    pub state: Rc<RefCell<InputState>>,
    window: Window,
    handlers: Vec<(&'static str, Closure<dyn FnMut(web_sys::Event)>)>,
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
    /// Listens on `window`.
    pub fn attach(window: &Window) -> Result<Input, JsValue> {
        let state = Rc::new(RefCell::new(InputState::default()));
        let mut handlers: Vec<(&'static str, Closure<dyn FnMut(web_sys::Event)>)> = Vec::new();

        let s = state.clone();
        handlers.push((
            "keydown",
            Closure::new(move |e: web_sys::Event| {
                let Some(e) = e.dyn_ref::<KeyboardEvent>() else {
                    return;
                };
                let code = code_of(e);
                if matches!(code.as_str(), "Tab" | "F3" | "Space") || code.starts_with("Arrow") {
                    e.prevent_default();
                }
                let mut st = s.borrow_mut();
                if code == "F3" && !e.repeat() {
                    st.debug = !st.debug;
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
                    if e.button() == 0 {
                        s.borrow_mut().mouse_down = true;
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
        Ok(Input {
            state,
            window: window.clone(),
            handlers,
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
