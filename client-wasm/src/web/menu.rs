//! In game: the toolbar (mute, settings) and the settings panel (name, volume, mute, show
//! FPS, touch aiming). The markup is in `assets/index.html`; what the settings are and how
//! they are stored is [`crate::settings`]. Listeners only queue [`MenuEvent`]s.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{
    Document, Element, Event, HtmlElement, HtmlInputElement, HtmlSelectElement, KeyboardEvent,
    Window,
};

use super::{element, queue_events};
use crate::settings::{clean_name, Settings};
use crate::touch::AimStyle;

/// What the player did in the toolbar or the settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MenuEvent {
    /// The mute button.
    ToggleMute,
    /// The settings button.
    Open,
    /// Done, or Escape in the panel.
    Close,
    /// A setting changed in the panel.
    Changed,
}

type Events = Rc<RefCell<VecDeque<MenuEvent>>>;

/// The toolbar's and the panel's elements and listeners.
pub struct Menu {
    window: Window,
    doc: Document,
    events: Events,
    _listeners: Vec<Closure<dyn FnMut(Event)>>,
}

impl Menu {
    /// Binds the markup.
    pub fn attach(window: &Window) -> Result<Menu, JsValue> {
        let doc = window.document().ok_or("no document")?;
        let events: Events = Rc::default();
        let mut listeners = Vec::new();
        let mut on = |id: &str, kind: &str, f: super::EventFilter<MenuEvent>| {
            listeners.push(queue_events(&doc, id, kind, &events, f)?);
            Ok::<(), JsValue>(())
        };
        on("mute", "click", Box::new(|_| Some(MenuEvent::ToggleMute)))?;
        on(
            "settings-open",
            "click",
            Box::new(|_| Some(MenuEvent::Open)),
        )?;
        on(
            "settings-form",
            "submit",
            Box::new(|e| {
                e.prevent_default();
                Some(MenuEvent::Close)
            }),
        )?;
        on(
            "settings-form",
            "input",
            Box::new(|_| Some(MenuEvent::Changed)),
        )?;
        on(
            "settings-form",
            "change",
            Box::new(|_| Some(MenuEvent::Changed)),
        )?;
        on(
            "settings",
            "keydown",
            Box::new(|e| {
                let esc = e.dyn_ref::<KeyboardEvent>()?.key() == "Escape";
                esc.then_some(MenuEvent::Close)
            }),
        )?;
        // Clicks and keys in the menus are not playing.
        for id in ["toolbar", "settings"] {
            for kind in ["keydown", "mousedown", "pointerdown"] {
                on(
                    id,
                    kind,
                    Box::new(|e| {
                        e.stop_propagation();
                        None
                    }),
                )?;
            }
        }
        Ok(Menu {
            window: window.clone(),
            doc,
            events,
            _listeners: listeners,
        })
    }

    /// What the player did since the last call.
    pub fn events(&self) -> Vec<MenuEvent> {
        self.events.borrow_mut().drain(..).collect()
    }

    /// The stored settings.
    pub fn load(&self) -> Settings {
        let storage = self.window.local_storage().ok().flatten();
        Settings::load(|k| storage.as_ref().and_then(|s| s.get_item(k).ok().flatten()))
    }

    /// Stores `s`.
    pub fn save(&self, s: &Settings) {
        if let Some(storage) = self.window.local_storage().ok().flatten() {
            s.save(|k, v| {
                let _ = storage.set_item(k, v);
            });
        }
    }

    /// Shows `s` in the panel and on the mute button.
    pub fn fill(&self, s: &Settings) {
        // Only what differs: re-setting a field being typed in would move its caret.
        if let Ok(i) = self.input("set-name") {
            if clean_name(&i.value()) != s.name {
                i.set_value(&s.name);
            }
        }
        if let Ok(i) = self.input("set-volume") {
            if i.value() != s.volume.to_string() {
                i.set_value(&s.volume.to_string());
            }
        }
        if let Ok(i) = self.input("set-muted") {
            i.set_checked(s.muted);
        }
        if let Ok(i) = self.input("set-fps") {
            i.set_checked(s.show_fps);
        }
        if let Ok(sel) = element::<HtmlSelectElement>(&self.doc, "set-aim") {
            sel.set_value(match s.aim {
                AimStyle::Stick => "stick",
                AimStyle::Point => "point",
            });
        }
        self.text("volume-out", &s.volume.to_string());
        self.text("mute", if s.muted { "♪ Off" } else { "♪ On" });
        if let Ok(b) = element::<Element>(&self.doc, "mute") {
            let _ = b.set_attribute("aria-pressed", if s.muted { "true" } else { "false" });
        }
    }

    /// The settings as the panel shows them (the rest from `s`).
    pub fn read(&self, s: &Settings) -> Settings {
        let mut out = s.clone();
        if let Ok(i) = self.input("set-name") {
            out.name = clean_name(&i.value());
        }
        if let Ok(i) = self.input("set-volume") {
            out.volume = i.value().parse::<u8>().map_or(s.volume, |v| v.min(100));
        }
        if let Ok(i) = self.input("set-muted") {
            out.muted = i.checked();
        }
        if let Ok(i) = self.input("set-fps") {
            out.show_fps = i.checked();
        }
        if let Ok(sel) = element::<HtmlSelectElement>(&self.doc, "set-aim") {
            out.aim = if sel.value() == "point" {
                AimStyle::Point
            } else {
                AimStyle::Stick
            };
        }
        out
    }

    /// Opens or closes the panel (focus goes to its first field, and back to the page).
    pub fn show_panel(&self, open: bool) {
        self.hidden("settings", !open);
        if open {
            if let Ok(i) = self.input("set-name") {
                let _ = i.focus();
            }
        } else if let Ok(b) = element::<HtmlElement>(&self.doc, "settings-open") {
            let _ = b.blur();
        }
    }

    /// Whether the panel is open.
    pub fn panel_open(&self) -> bool {
        element::<HtmlElement>(&self.doc, "settings").is_ok_and(|e| !e.hidden())
    }

    /// Shows the toolbar (in game) or hides it and the panel (in the lobby).
    pub fn show_toolbar(&self, on: bool) {
        self.hidden("toolbar", !on);
        if !on {
            self.hidden("settings", true);
        }
    }

    fn hidden(&self, id: &str, hidden: bool) {
        if let Ok(el) = element::<HtmlElement>(&self.doc, id) {
            if el.hidden() != hidden {
                el.set_hidden(hidden);
            }
        }
    }

    fn input(&self, id: &str) -> Result<HtmlInputElement, JsValue> {
        element(&self.doc, id)
    }

    fn text(&self, id: &str, text: &str) {
        if let Some(el) = self.doc.get_element_by_id(id) {
            el.set_text_content(Some(text));
        }
    }
}
