//! Watching a room (`/?watch=CODE`) or a replay (`/?replay=ID`): the bar at the bottom of
//! the page (follow the next player; a replay's pause, seek and speed) and its keys (F or
//! Tab: follow the next player; Space: pause; 1-4: x0.5, x1, x2, x4; Left / Right: 5 s back
//! or forward). Events are queued for the frame loop, which hands them to the client core
//! ([`crate::game::GameClient::follow_next`], [`crate::game::GameClient::playback`]).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Document, HtmlElement, KeyboardEvent, Window};

use super::{element, queue_events};

/// What the spectator asked for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum WatchEvent {
    /// Follow the next player.
    FollowNext,
    /// Pause, or play again.
    TogglePause,
    /// Speed in quarters.
    Speed(u8),
    /// Seek by this many seconds.
    Seek(i32),
    /// A click on the game at these CSS pixels: follow the player there.
    Click(f64, f64),
    /// Move the free camera by this many world units.
    Pan(f32, f32),
}

/// The watch bar and its keys.
pub struct WatchBar {
    doc: Document,
    queue: Rc<RefCell<VecDeque<WatchEvent>>>,
    _listeners: Vec<Closure<dyn FnMut(web_sys::Event)>>,
    _keys: Closure<dyn FnMut(KeyboardEvent)>,
    shown: bool,
    paused: bool,
}

impl WatchBar {
    /// Binds the bar's buttons and the keys (the keys only act while the bar is shown).
    ///
    /// # Errors
    /// An element of the bar is missing from the page.
    pub fn attach(window: &Window) -> Result<WatchBar, JsValue> {
        let doc = window.document().ok_or("no document")?;
        let queue: Rc<RefCell<VecDeque<WatchEvent>>> = Rc::default();
        let mut listeners = Vec::new();
        let buttons = [
            ("watch-follow", WatchEvent::FollowNext),
            ("replay-pause", WatchEvent::TogglePause),
            ("replay-back", WatchEvent::Seek(-5)),
            ("replay-forward", WatchEvent::Seek(5)),
            ("replay-speed-2", WatchEvent::Speed(2)),
            ("replay-speed-4", WatchEvent::Speed(4)),
            ("replay-speed-8", WatchEvent::Speed(8)),
            ("replay-speed-16", WatchEvent::Speed(16)),
        ];
        for (id, ev) in buttons {
            listeners.push(queue_events(&doc, id, "click", &queue, move |_| Some(ev))?);
        }
        let shown_bar: HtmlElement = element(&doc, "watch-bar")?;
        listeners.push(queue_events(&doc, "game", "click", &queue, move |e| {
            let m = e.dyn_ref::<web_sys::MouseEvent>()?;
            (!shown_bar.hidden())
                .then(|| WatchEvent::Click(f64::from(m.client_x()), f64::from(m.client_y())))
        })?);
        let bar: HtmlElement = element(&doc, "watch-bar")?;
        let q = queue.clone();
        let doc2 = doc.clone();
        let keys = Closure::<dyn FnMut(KeyboardEvent)>::new(move |e: KeyboardEvent| {
            if bar.hidden() {
                return;
            }
            // Arrows seek a replay, and move the camera of a live room.
            let replay = doc2
                .get_element_by_id("replay-controls")
                .and_then(|el| el.dyn_into::<HtmlElement>().ok())
                .is_some_and(|el| !el.hidden());
            const STEP: f32 = 120.0;
            let ev = match e.key().as_str() {
                "w" | "W" => WatchEvent::Pan(0.0, -STEP),
                "s" | "S" => WatchEvent::Pan(0.0, STEP),
                "a" | "A" => WatchEvent::Pan(-STEP, 0.0),
                "d" | "D" => WatchEvent::Pan(STEP, 0.0),
                "ArrowUp" if !replay => WatchEvent::Pan(0.0, -STEP),
                "ArrowDown" if !replay => WatchEvent::Pan(0.0, STEP),
                "ArrowLeft" if !replay => WatchEvent::Pan(-STEP, 0.0),
                "ArrowRight" if !replay => WatchEvent::Pan(STEP, 0.0),
                "f" | "F" | "Tab" => WatchEvent::FollowNext,
                " " => WatchEvent::TogglePause,
                "1" => WatchEvent::Speed(2),
                "2" => WatchEvent::Speed(4),
                "3" => WatchEvent::Speed(8),
                "4" => WatchEvent::Speed(16),
                "ArrowLeft" => WatchEvent::Seek(-5),
                "ArrowRight" => WatchEvent::Seek(5),
                _ => return,
            };
            e.prevent_default();
            q.borrow_mut().push_back(ev);
        });
        window.add_event_listener_with_callback("keydown", keys.as_ref().unchecked_ref())?;
        Ok(WatchBar {
            doc,
            queue,
            _listeners: listeners,
            _keys: keys,
            shown: false,
            paused: false,
        })
    }

    /// Shows the bar (with a replay's controls when `replay`), labelled `label`; or hides it.
    pub fn show(&mut self, shown: bool, replay: bool, label: &str) {
        if shown == self.shown {
            return;
        }
        self.shown = shown;
        let set = |id: &str, hidden: bool| {
            if let Some(el) = self
                .doc
                .get_element_by_id(id)
                .and_then(|e| e.dyn_into::<HtmlElement>().ok())
            {
                el.set_hidden(hidden);
            }
        };
        set("watch-bar", !shown);
        set("replay-controls", !(shown && replay));
        if let Some(el) = self.doc.get_element_by_id("watch-label") {
            el.set_text_content(Some(label));
        }
    }

    /// The pause button says what it does next: "Play" while paused.
    pub fn set_paused(&mut self, paused: bool) {
        if paused == self.paused {
            return;
        }
        self.paused = paused;
        if let Some(el) = self.doc.get_element_by_id("replay-pause") {
            el.set_text_content(Some(if paused { "Play" } else { "Pause" }));
        }
    }

    /// The events since the last call.
    pub fn events(&self) -> Vec<WatchEvent> {
        self.queue.borrow_mut().drain(..).collect()
    }
}
