//! The lobby's page: the start screen (name, mode, Quick play, the live list of public
//! rooms, Create private room, Join by code, an invite's Join button) and, in game, the
//! room bar (room code, invite link, Copy, Leave). The markup is in `assets/index.html`;
//! this binds it and fills it in. Its listeners only queue [`LobbyEvent`]s: the frame loop
//! (`web.rs`) decides, with `crate::lobby`.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Document, Element, Event, HtmlInputElement, HtmlSelectElement, Window};

use super::http::{num_field, str_field};
use super::{element, queue_events};

/// What the player did in the lobby or the room bar.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LobbyEvent {
    /// Quick play (the play form: the button or Enter in the name field).
    QuickPlay,
    /// Create private room.
    CreatePrivate,
    /// Join by code, with the text typed.
    JoinCode(String),
    /// A room of the list (or the invite) was picked.
    JoinRoom(String),
    /// Leave the room.
    Leave,
    /// Copy the invite link.
    CopyInvite,
}

type Events = Rc<RefCell<VecDeque<LobbyEvent>>>;

/// Where the name is remembered between visits.
const NAME_KEY: &str = "tickwire.name";

/// The lobby's elements and listeners.
pub struct Lobby {
    window: Window,
    doc: Document,
    root: Element,
    bar: Element,
    events: Events,
    /// The invite's room code, while the page was opened by an invite link.
    invited: Rc<RefCell<Option<String>>>,
    _listeners: Vec<Closure<dyn FnMut(Event)>>,
    _copied: Closure<dyn FnMut(JsValue)>,
    _not_copied: Closure<dyn FnMut(JsValue)>,
}

impl Lobby {
    /// Binds the lobby's markup.
    pub fn attach(window: &Window) -> Result<Lobby, JsValue> {
        let doc = window.document().ok_or("no document")?;
        let events: Events = Rc::default();
        let invited: Rc<RefCell<Option<String>>> = Rc::default();
        let mut listeners = Vec::new();
        let mut on = |id: &str, kind: &str, f: super::EventFilter<LobbyEvent>| {
            listeners.push(queue_events(&doc, id, kind, &events, f)?);
            Ok::<(), JsValue>(())
        };
        let submit = |ev: LobbyEvent| -> super::EventFilter<LobbyEvent> {
            Box::new(move |e: &Event| {
                e.prevent_default();
                Some(ev.clone())
            })
        };
        on("play-form", "submit", submit(LobbyEvent::QuickPlay))?;
        on("create-room", "click", submit(LobbyEvent::CreatePrivate))?;
        on("leave", "click", submit(LobbyEvent::Leave))?;
        on("copy-invite", "click", submit(LobbyEvent::CopyInvite))?;
        let d = doc.clone();
        on(
            "join-form",
            "submit",
            Box::new(move |e: &Event| {
                e.prevent_default();
                let code = element::<HtmlInputElement>(&d, "room-code").ok()?.value();
                Some(LobbyEvent::JoinCode(code))
            }),
        )?;
        let inv = invited.clone();
        on(
            "invite-join",
            "click",
            Box::new(move |e: &Event| {
                e.prevent_default();
                inv.borrow().clone().map(LobbyEvent::JoinRoom)
            }),
        )?;
        // One listener for the whole list: a joinable row carries its room.
        on(
            "rooms",
            "click",
            Box::new(|e: &Event| {
                let target = e.target()?.dyn_into::<Element>().ok()?;
                let row = target.closest("[data-join]").ok()??;
                row.get_attribute("data-join").map(LobbyEvent::JoinRoom)
            }),
        )?;
        // Typing a name or clicking a button is not playing: the game's keyboard and mouse
        // listeners (on the window) never see these events.
        for id in ["lobby", "room-bar"] {
            for kind in ["keydown", "mousedown"] {
                on(
                    id,
                    kind,
                    Box::new(|e: &Event| {
                        e.stop_propagation();
                        None
                    }),
                )?;
            }
        }
        let root: Element = element(&doc, "lobby")?;
        let bar: Element = element(&doc, "room-bar")?;
        let d = doc.clone();
        let copied = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            set_text(&d, "copy-invite", "Copied!");
        });
        let d = doc.clone();
        let not_copied = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            set_text(&d, "copy-invite", "Press Ctrl+C");
        });
        let lobby = Lobby {
            window: window.clone(),
            doc,
            root,
            bar,
            events,
            invited,
            _listeners: listeners,
            _copied: copied,
            _not_copied: not_copied,
        };
        if let Some(name) = lobby.storage().and_then(|s| s.get_item(NAME_KEY).ok()?) {
            lobby.input("name")?.set_value(&name);
        }
        Ok(lobby)
    }

    /// What the player did since the last call.
    pub fn events(&self) -> Vec<LobbyEvent> {
        self.events.borrow_mut().drain(..).collect()
    }

    /// The name typed (remembered for the next visit), or `player`.
    pub fn name(&self) -> String {
        let typed = self.input("name").map(|i| i.value()).unwrap_or_default();
        let name = typed.trim();
        if name.is_empty() {
            return "player".to_owned();
        }
        if let Some(s) = self.storage() {
            let _ = s.set_item(NAME_KEY, name);
        }
        name.to_owned()
    }

    /// Puts `name` in the name field (a name from the URL, kept for the lobby after Leave).
    pub fn set_name(&self, name: &str) {
        if let Ok(i) = self.input("name") {
            i.set_value(name);
        }
    }

    /// The mode picked.
    pub fn mode(&self) -> String {
        element::<HtmlSelectElement>(&self.doc, "mode")
            .map(|s| s.value())
            .ok()
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| "arena".to_owned())
    }

    /// Shows the lobby (and hides the room bar), with `message` or none.
    pub fn show(&self, message: Option<&str>) {
        let _ = self.root.remove_attribute("hidden");
        let _ = self.bar.set_attribute("hidden", "");
        self.set_message(message);
    }

    /// Hides the lobby.
    pub fn hide(&self) {
        let _ = self.root.set_attribute("hidden", "");
    }

    /// The lobby's message line (an error, or why the player is back here).
    pub fn set_message(&self, message: Option<&str>) {
        if let Ok(el) = element::<Element>(&self.doc, "lobby-message") {
            el.set_text_content(message);
            let _ = if message.is_some() {
                el.remove_attribute("hidden")
            } else {
                el.set_attribute("hidden", "")
            };
        }
    }

    /// The page was opened by an invite to room `code`: offers to join it.
    pub fn show_invite(&self, code: &str) {
        *self.invited.borrow_mut() = Some(code.to_owned());
        set_text(&self.doc, "invite-code", code);
        if let Ok(el) = element::<Element>(&self.doc, "invite") {
            let _ = el.remove_attribute("hidden");
        }
        if let Ok(i) = self.input("room-code") {
            i.set_value(code);
        }
    }

    /// Forgets the invite (the player joined, or left).
    pub fn clear_invite(&self) {
        *self.invited.borrow_mut() = None;
        if let Ok(el) = element::<Element>(&self.doc, "invite") {
            let _ = el.set_attribute("hidden", "");
        }
    }

    /// In game: the room bar with the room's code, mode and invite link.
    pub fn show_room_bar(&self, code: &str, mode: &str, invite: &str) {
        set_text(&self.doc, "bar-room", code);
        set_text(&self.doc, "bar-mode", mode);
        set_text(&self.doc, "copy-invite", "Copy invite link");
        if let Ok(i) = self.input("invite-link") {
            i.set_value(invite);
        }
        let _ = self.bar.remove_attribute("hidden");
    }

    /// Copies the invite link: to the clipboard where the page may, and selects it in any
    /// case (Ctrl+C then copies it).
    pub fn copy_invite(&self) {
        let Ok(input) = self.input("invite-link") else {
            return;
        };
        input.select();
        let nav = self.window.navigator();
        let has_clipboard = js_sys::Reflect::get(&nav, &"clipboard".into())
            .is_ok_and(|c| !c.is_undefined() && !c.is_null());
        if has_clipboard {
            let _ = nav
                .clipboard()
                .write_text(&input.value())
                .then2(&self._copied, &self._not_copied);
        } else {
            set_text(&self.doc, "copy-invite", "Press Ctrl+C");
        }
    }

    /// Fills the list of public rooms from `GET /rooms`'s JSON (`None`: it failed).
    pub fn show_rooms(&self, json: Option<&str>) -> Result<(), JsValue> {
        let list: Element = element(&self.doc, "rooms")?;
        let rooms = json
            .and_then(|j| js_sys::JSON::parse(j).ok())
            .filter(js_sys::Array::is_array)
            .map(|v| js_sys::Array::from(&v));
        let Some(rooms) = rooms else {
            set_text(
                &self.doc,
                "rooms-note",
                "The room list is unavailable right now.",
            );
            return Ok(());
        };
        list.set_inner_html("");
        for room in rooms.iter() {
            let (Some(code), Some(mode)) = (str_field(&room, "room"), str_field(&room, "mode"))
            else {
                continue;
            };
            let players = num_field(&room, "players").unwrap_or(0.0);
            let taken = num_field(&room, "seats_taken").unwrap_or(players);
            let max = num_field(&room, "max").unwrap_or(0.0);
            let map = str_field(&room, "map").unwrap_or_default();
            let full = max > 0.0 && taken >= max;
            let li = self.doc.create_element("li")?;
            li.set_class_name(if full { "room full" } else { "room" });
            li.set_attribute("data-room", &code)?;
            if !full {
                li.set_attribute("data-join", &code)?;
            }
            self.child(&li, "span", "room-code", &code)?;
            self.child(&li, "span", "room-mode", &format!("{mode} · {map}"))?;
            let fill = self.child(&li, "span", "room-fill", "")?;
            let bar = self.child(&fill, "span", "room-fill-bar", "")?;
            let pct = if max > 0.0 {
                (players / max * 100.0).min(100.0)
            } else {
                0.0
            };
            bar.set_attribute("style", &format!("width:{pct:.0}%"))?;
            self.child(
                &li,
                "span",
                "room-players",
                &format!("{players:.0}/{max:.0}"),
            )?;
            let button = self.child(
                &li,
                "button",
                "room-join",
                if full { "Full" } else { "Join" },
            )?;
            if full {
                button.set_attribute("disabled", "")?;
            }
            // Watching takes no seat: a link to the spectator's page of the room.
            let watch = self.child(&li, "a", "room-watch", "Watch")?;
            watch.set_attribute("href", &format!("/?watch={code}"))?;
            list.append_child(&li)?;
        }
        let note = if rooms.length() == 0 {
            "No public rooms right now: press Quick play to open one."
        } else {
            ""
        };
        set_text(&self.doc, "rooms-note", note);
        Ok(())
    }

    fn child(
        &self,
        parent: &Element,
        tag: &str,
        class: &str,
        text: &str,
    ) -> Result<Element, JsValue> {
        let el = self.doc.create_element(tag)?;
        el.set_class_name(class);
        if !text.is_empty() {
            el.set_text_content(Some(text));
        }
        parent.append_child(&el)?;
        Ok(el)
    }

    fn input(&self, id: &str) -> Result<HtmlInputElement, JsValue> {
        element(&self.doc, id)
    }

    fn storage(&self) -> Option<web_sys::Storage> {
        self.window.local_storage().ok().flatten()
    }
}

fn set_text(doc: &Document, id: &str, text: &str) {
    if let Some(el) = doc.get_element_by_id(id) {
        el.set_text_content(Some(text));
    }
}
