//! The browser shell: boots the page, shows the lobby (`lobby.rs`) or the game, calls the
//! rooms API (`http.rs`), runs the frame loop, owns the socket and the input listeners,
//! reconnects with backoff and jitter (resuming the same player, or with a new seat:
//! [`crate::lobby::Seating`] decides), keeps the resume ticket in `sessionStorage` (a
//! reload resumes too), and exposes `window.tickwire.state()`.
//!
//! The page's URL: `/?name=NAME` joins quick play at once as NAME (`&room=CODE`: that
//! room instead; `&mode=MODE`: quick play in that mode); `/?room=CODE` is an invite: the
//! lobby offers to join that room; `/` is the lobby.

mod audio;
mod http;
mod input;
mod lobby;
mod menu;
mod render;
mod socket;
mod watch;

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, Window};

use crate::game::{GameClient, Phase};
use crate::lobby::{
    backoff_ms, parse_code, AfterDrop, ApiCall, Intent, Next, Page, Seating, Ticket,
};
use crate::settings::{Camera, Settings};
use audio::Audio;
use http::{parse_answer, Http, Purpose};
use input::Input;
use lobby::{Lobby, LobbyEvent};
use menu::{Menu, MenuEvent};
use socket::{Inbox, Socket, SocketEvent};
use watch::{WatchBar, WatchEvent};

/// Re-simulates a replay file (its bytes) and checks every recorded hash: the verdict as
/// JSON (see [`crate::replay::verify_json`]), the same as `tickwire-replay verify`'s.
#[wasm_bindgen]
#[must_use]
pub fn verify_replay(bytes: &[u8]) -> String {
    crate::replay::verify_json(bytes)
}

/// How often the lobby's list of public rooms is refreshed (ms).
const LIST_EVERY_MS: f64 = 3000.0;

/// Entry point, run when the module loads.
#[wasm_bindgen(start)]
pub fn start() -> Result<(), JsValue> {
    console_error_panic_hook::set_once();
    let app = App::new()?;
    App::boot(app)
}

thread_local! {
    /// The one app of the page.
    static APP: RefCell<Option<Rc<RefCell<App>>>> = const { RefCell::new(None) };
}

#[derive(Default)]
struct Reconnect {
    attempt: u32,
    at_ms: Option<f64>,
    connected_since: Option<f64>,
    /// What this drop leads to, decided once when it is noticed.
    plan: Option<AfterDrop>,
}

/// Where the page is.
#[derive(Clone, Debug, PartialEq)]
enum Stage {
    /// The lobby is on screen.
    Lobby,
    /// Waiting for the rooms API's answer to this call.
    Asking(u32),
    /// A session: connecting, playing, or lost (then reconnecting with backoff).
    Session,
    /// The server could not be reached (why): trying again after a backoff.
    Waiting(String),
}

struct App {
    window: Window,
    canvas: HtmlCanvasElement,
    ctx: CanvasRenderingContext2d,
    name: String,
    lobby: Lobby,
    menu: Menu,
    settings: Settings,
    audio: Audio,
    camera: Camera,
    /// Where the own player was drawn last frame (CSS px): the mouse aims from there.
    player_screen: Option<(f64, f64)>,
    last_frame_ms: Option<f64>,
    title: String,
    http: Http,
    stage: Stage,
    /// The player's intent, from the lobby to leaving the room.
    seating: Option<Seating>,
    /// The lobby's list call in flight, and when the next is due.
    list_call: Option<u32>,
    next_list_ms: f64,
    client: Option<GameClient>,
    socket: Option<Socket>,
    inbox: Inbox,
    input: Input,
    /// Watching a room or a replay: the bar and its keys.
    watch_bar: WatchBar,
    /// The last frame's camera and canvas size (CSS px): where a click lands in the world.
    last_view: Option<(glam::Vec2, f64, f64)>,
    reconnect: Reconnect,
    status: String,
    raf: Option<Closure<dyn FnMut(f64)>>,
    state_fn: Option<Closure<dyn Fn() -> JsValue>>,
}

fn element<T: JsCast>(doc: &web_sys::Document, id: &str) -> Result<T, JsValue> {
    doc.get_element_by_id(id)
        .ok_or_else(|| JsValue::from_str(&format!("#{id} missing from the page")))?
        .dyn_into::<T>()
        .map_err(|_| JsValue::from_str(&format!("#{id} has the wrong element type")))
}

/// Listens to `kind` events of element `id`: what `f` makes of an event goes into
/// `queue`, for the frame loop to handle. The closure returned must be kept alive.
/// What turns a DOM event into a queued UI event ([`queue_events`]), boxed.
type EventFilter<T> = Box<dyn Fn(&web_sys::Event) -> Option<T>>;

fn queue_events<T: 'static>(
    doc: &web_sys::Document,
    id: &str,
    kind: &str,
    queue: &Rc<RefCell<std::collections::VecDeque<T>>>,
    f: impl Fn(&web_sys::Event) -> Option<T> + 'static,
) -> Result<Closure<dyn FnMut(web_sys::Event)>, JsValue> {
    let el: web_sys::Element = element(doc, id)?;
    let q = queue.clone();
    let cb = Closure::<dyn FnMut(web_sys::Event)>::new(move |e: web_sys::Event| {
        if let Some(v) = f(&e) {
            q.borrow_mut().push_back(v);
        }
    });
    el.add_event_listener_with_callback(kind, cb.as_ref().unchecked_ref())?;
    Ok(cb)
}

impl App {
    fn new() -> Result<Rc<RefCell<App>>, JsValue> {
        let window = web_sys::window().ok_or("no window")?;
        let doc = window.document().ok_or("no document")?;
        let canvas: HtmlCanvasElement = element(&doc, "game")?;
        let ctx = canvas
            .get_context("2d")?
            .ok_or("no 2d context")?
            .dyn_into::<CanvasRenderingContext2d>()?;
        let input = Input::attach(&window, &canvas)?;
        let lobby = Lobby::attach(&window)?;
        let menu = Menu::attach(&window)?;
        let watch_bar = WatchBar::attach(&window)?;
        let settings = menu.load();
        menu.fill(&settings);
        input.state.borrow_mut().touch.style = settings.aim;
        Ok(Rc::new(RefCell::new(App {
            window,
            canvas,
            ctx,
            name: "player".to_owned(),
            lobby,
            menu,
            settings,
            audio: Audio::default(),
            camera: Camera::default(),
            player_screen: None,
            last_frame_ms: None,
            title: String::new(),
            http: Http::default(),
            stage: Stage::Lobby,
            seating: None,
            list_call: None,
            next_list_ms: 0.0,
            client: None,
            socket: None,
            inbox: Inbox::default(),
            input,
            watch_bar,
            last_view: None,
            reconnect: Reconnect::default(),
            status: String::new(),
            raf: None,
            state_fn: None,
        })))
    }

    fn boot(app: Rc<RefCell<App>>) -> Result<(), JsValue> {
        let window = app.borrow().window.clone();
        // window.tickwire.state(): what the player sees, for page scripts and tests.
        let weak = Rc::downgrade(&app);
        let state_fn = Closure::<dyn Fn() -> JsValue>::new(move || {
            let json = weak
                .upgrade()
                .map_or_else(|| "{}".to_owned(), |a| a.borrow().state_json());
            js_sys::JSON::parse(&json).unwrap_or(JsValue::NULL)
        });
        let api = js_sys::Object::new();
        js_sys::Reflect::set(&api, &"state".into(), state_fn.as_ref())?;
        js_sys::Reflect::set(&window, &"tickwire".into(), &api)?;
        app.borrow_mut().state_fn = Some(state_fn);

        // A name in the URL joins at once; an invite offers its room; else the lobby.
        let search = window.location().search().unwrap_or_default();
        let params = web_sys::UrlSearchParams::new_with_str(&search)?;
        let room = params.get("room").and_then(|r| parse_code(&r));
        let name = params.get("name").filter(|n| !n.trim().is_empty());
        let intent = |room: Option<String>| {
            room.map_or_else(
                || Intent::QuickPlay {
                    mode: params.get("mode").filter(|m| !m.is_empty()),
                },
                Intent::Room,
            )
        };
        // Watching a room or a replay: no player, no seat.
        let watch = params.get("watch").and_then(|r| parse_code(&r));
        let replay = params.get("replay").filter(|r| {
            !r.is_empty()
                && r.len() <= 80
                && r.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
        if let Some(code) = watch {
            app.borrow_mut().begin_watch(
                &format!("room={code}"),
                false,
                &format!("Watching {code}"),
            )?;
        } else if let Some(id) = replay {
            app.borrow_mut()
                .begin_watch(&format!("replay={id}"), true, "Replay")?;
        }
        let watching = app.borrow().client.is_some();
        // A ticket kept by this tab (a reload): resume its player before anything else;
        // if refused, what the URL asks (below) comes next.
        let ticket = app
            .borrow()
            .session_storage()
            .and_then(|s| s.get_item(Ticket::KEY).ok().flatten())
            .and_then(|t| Ticket::decode(&t))
            .filter(|t| t.applies_to(room.as_deref()));
        if let (false, Some(ticket)) = (watching, ticket) {
            let fallback = name.is_some().then(|| intent(room.clone()));
            let mut a = app.borrow_mut();
            if let Some(n) = &name {
                a.name = n.trim().to_owned();
            } else {
                a.name.clone_from(&ticket.name);
            }
            a.lobby.set_name(&a.name);
            a.begin_resume(ticket, fallback)?;
        } else if !watching {
            let mut a = app.borrow_mut();
            match (name, room) {
                (Some(name), room) => {
                    a.name = name.trim().to_owned();
                    a.lobby.set_name(&a.name);
                    a.begin(intent(room))?;
                }
                (None, Some(code)) => {
                    a.lobby.show(None);
                    a.lobby.show_invite(&code);
                }
                (None, None) => a.lobby.show(None),
            }
        }

        // The frame loop: one closure, kept in the app, re-arming itself.
        let weak = Rc::downgrade(&app);
        let frame = Closure::<dyn FnMut(f64)>::new(move |now: f64| {
            let Some(a) = weak.upgrade() else { return };
            let mut a = a.borrow_mut();
            if let Err(e) = a.frame(now) {
                web_sys::console::error_1(&e);
            }
            if let Some(f) = &a.raf {
                let _ = a.window.request_animation_frame(f.as_ref().unchecked_ref());
            }
        });
        window.request_animation_frame(frame.as_ref().unchecked_ref())?;
        app.borrow_mut().raf = Some(frame);
        // The app lives as long as the page; its closures only hold weak references to it.
        APP.with(|slot| *slot.borrow_mut() = Some(app));
        Ok(())
    }

    /// What `window.tickwire.state()` returns.
    fn state_json(&self) -> String {
        match &self.client {
            Some(c) => {
                let now = self.window.performance().map_or(0.0, |p| p.now());
                let json = c.state_json_at(now);
                let st = self.input.state.borrow();
                let t = &st.touch;
                // What the fingers are doing, for tests: {"used","stick","aim"}.
                format!(
                    "{},\"touch\":{{\"used\":{},\"stick\":{},\"aim\":{}}}}}",
                    &json[..json.len() - 1],
                    t.used,
                    t.stick.is_some(),
                    t.aim.is_some()
                )
            }
            None => {
                let stage = match self.stage {
                    Stage::Lobby => "lobby",
                    Stage::Asking(_) => "asking",
                    Stage::Session => "session",
                    Stage::Waiting(_) => "waiting",
                };
                format!("{{\"connection\":\"idle\",\"stage\":\"{stage}\"}}")
            }
        }
    }

    fn page(&self) -> Result<Page, JsValue> {
        let loc = self.window.location();
        Ok(Page {
            https: loc.protocol()? == "https:",
            host: loc.host()?,
        })
    }

    /// This tab's `sessionStorage` (kept across a reload, not shared with other tabs).
    fn session_storage(&self) -> Option<web_sys::Storage> {
        self.window.session_storage().ok().flatten()
    }

    /// Keeps the seating's resume ticket for a reload (or forgets it when there is none).
    fn keep_ticket(&self) {
        let ticket = self.seating.as_ref().and_then(|s| s.ticket(&self.name));
        if let Some(storage) = self.session_storage() {
            let _ = match ticket {
                Some(t) => storage.set_item(Ticket::KEY, &t.encode()),
                None => storage.remove_item(Ticket::KEY),
            };
        }
    }

    /// A reloaded page with `ticket`: resumes its player (a full state) with the page's
    /// canvas; if refused, `fallback` (the URL's intent, or the lobby).
    fn begin_resume(&mut self, ticket: Ticket, fallback: Option<Intent>) -> Result<(), JsValue> {
        self.lobby.hide();
        self.lobby.set_message(None);
        self.reconnect = Reconnect::default();
        let seating = Seating::reloaded(self.page()?, ticket, fallback);
        let first = seating.first_resume();
        self.seating = Some(seating);
        self.client = Some(GameClient::new(&self.name));
        match first {
            Some(AfterDrop::Resume { url, token }) => self.open_resume(&url, token),
            _ => {
                self.show_lobby(None);
                Ok(())
            }
        }
    }

    /// Opens a new socket to `url` for the session's client to resume its player with
    /// `token`: the client keeps its state, the canvas stays.
    fn open_resume(&mut self, url: &str, token: String) -> Result<(), JsValue> {
        self.socket = None;
        self.inbox.borrow_mut().clear();
        if let Some(c) = self.client.as_mut() {
            c.resume(token);
        }
        self.reconnect.connected_since = None;
        self.stage = Stage::Session;
        self.socket = Some(Socket::open(url, &self.inbox)?);
        Ok(())
    }

    /// Watches a room or a replay (`query`: `room=CODE` or `replay=ID`): a spectator's
    /// session, no seat.
    fn begin_watch(&mut self, query: &str, replay: bool, label: &str) -> Result<(), JsValue> {
        self.lobby.hide();
        self.lobby.set_message(None);
        self.socket = None;
        self.seating = None;
        self.camera = Camera::default();
        self.inbox.borrow_mut().clear();
        self.client = Some(GameClient::spectator(replay));
        self.reconnect = Reconnect::default();
        self.stage = Stage::Session;
        let page = self.page()?;
        let scheme = if page.https { "wss" } else { "ws" };
        let url = format!("{scheme}://{}/ws?{query}", page.host);
        self.socket = Some(Socket::open(&url, &self.inbox)?);
        self.watch_bar.show(true, replay, label);
        Ok(())
    }

    /// A spectator's bar and keys: follow, and a replay's playback.
    fn watch_events(&mut self, now: f64) {
        let events = self.watch_bar.events();
        let Some(client) = self.client.as_mut() else {
            return;
        };
        let Some(w) = client.watching() else {
            return;
        };
        let hz = client.welcome().map_or(30, |w| i64::from(w.config.tick_hz));
        for ev in events {
            let w = client.watching().unwrap_or(w);
            match ev {
                WatchEvent::FollowNext => client.follow_next(now),
                WatchEvent::TogglePause => {
                    client.playback(!w.paused, w.speed_quarters, 0, now);
                }
                WatchEvent::Speed(q) => client.playback(w.paused, q, 0, now),
                WatchEvent::Seek(s) => {
                    client.playback(w.paused, w.speed_quarters, i64::from(s) * hz, now);
                }
                WatchEvent::Pan(dx, dy) => client.pan(dx, dy, now),
                WatchEvent::Click(x, y) => {
                    // The world under the click: the view is centred on the camera.
                    if let Some((camera, w, h)) = self.last_view {
                        let at = glam::Vec2::new(
                            camera.x + (x - w / 2.0) as f32,
                            camera.y + (y - h / 2.0) as f32,
                        );
                        client.follow_at(at, now);
                    }
                }
            }
        }
        if let Some(w) = client.watching() {
            self.watch_bar.set_paused(w.paused);
        }
    }

    /// Leaves the lobby for `intent`.
    fn begin(&mut self, intent: Intent) -> Result<(), JsValue> {
        self.lobby.hide();
        self.lobby.set_message(None);
        self.reconnect = Reconnect::default();
        // The settings panel names the player who is about to join.
        self.settings.name.clone_from(&self.name);
        self.menu.save(&self.settings);
        self.menu.fill(&self.settings);
        let mut seating = Seating::new(self.page()?, intent);
        let next = seating.start();
        self.seating = Some(seating);
        self.apply(next)
    }

    /// Takes the step the seating decided.
    fn apply(&mut self, next: Next) -> Result<(), JsValue> {
        match next {
            Next::Call(call) => {
                let id = self.http.send(&self.window, &call, Purpose::Seat);
                self.stage = Stage::Asking(id);
            }
            Next::Open { url, seat } => {
                self.socket = None;
                self.camera = Camera::default();
                self.inbox.borrow_mut().clear();
                self.client = Some(GameClient::new(&self.name).with_seat(seat));
                self.reconnect.connected_since = None;
                self.stage = Stage::Session;
                self.socket = Some(Socket::open(&url, &self.inbox)?);
            }
            Next::Lobby(message) => self.show_lobby(Some(&message)),
            Next::Retry(why) => {
                self.reconnect.at_ms = None;
                self.stage = Stage::Waiting(why);
            }
        }
        Ok(())
    }

    /// Back to the lobby (the socket, if any, closes with 1000: the player leaves; nothing
    /// is kept for a reload).
    fn show_lobby(&mut self, message: Option<&str>) {
        self.socket = None;
        self.client = None;
        self.seating = None;
        self.keep_ticket();
        self.stage = Stage::Lobby;
        self.next_list_ms = 0.0;
        self.watch_bar.show(false, false, "");
        self.set_status(None);
        self.lobby.show(message);
    }

    fn on_lobby_event(&mut self, ev: LobbyEvent) -> Result<(), JsValue> {
        let in_lobby = self.stage == Stage::Lobby;
        match ev {
            LobbyEvent::QuickPlay if in_lobby => {
                self.name = self.lobby.name();
                let mode = Some(self.lobby.mode());
                self.begin(Intent::QuickPlay { mode })?;
            }
            LobbyEvent::CreatePrivate if in_lobby => {
                self.name = self.lobby.name();
                let mode = self.lobby.mode();
                self.begin(Intent::CreatePrivate { mode })?;
            }
            LobbyEvent::JoinCode(text) if in_lobby => match parse_code(&text) {
                Some(code) => {
                    self.name = self.lobby.name();
                    self.begin(Intent::Room(code))?;
                }
                None => self.lobby.set_message(Some(
                    "Type a room code (6 letters), or paste an invite link.",
                )),
            },
            LobbyEvent::JoinRoom(code) if in_lobby => {
                self.name = self.lobby.name();
                self.begin(Intent::Room(code))?;
            }
            LobbyEvent::Leave => {
                self.show_lobby(None);
                self.lobby.clear_invite();
                // A reload now shows the lobby, not the room just left.
                if let Ok(h) = self.window.history() {
                    let _ = h.replace_state_with_url(&JsValue::NULL, "", Some("/"));
                }
            }
            LobbyEvent::CopyInvite => self.lobby.copy_invite(),
            _ => {}
        }
        Ok(())
    }

    /// The backoff after a drop (exponential, with jitter: [`backoff_ms`]): `None` once it
    /// is time to try again, else the ms left.
    fn backoff_left(&mut self, now: f64) -> Option<f64> {
        self.reconnect.connected_since = None;
        let attempt = self.reconnect.attempt;
        let at = *self
            .reconnect
            .at_ms
            .get_or_insert_with(|| now + backoff_ms(attempt, js_sys::Math::random()));
        if now < at {
            return Some(at - now);
        }
        self.reconnect.attempt += 1;
        self.reconnect.at_ms = None;
        None
    }

    /// The backoff before a new seat: shows why and when; true once it is time.
    fn backoff_due(&mut self, now: f64, why: &str) -> bool {
        let left = self.backoff_left(now);
        self.set_status(Some(format!(
            "Connection lost ({why}). Reconnecting in {:.0} s…",
            (left.unwrap_or(0.0) / 1000.0).ceil()
        )));
        left.is_none()
    }

    /// Tries again: a new seat in the same room (never the spent one), or the first step.
    fn retry(&mut self) -> Result<(), JsValue> {
        match self.seating.as_mut().map(Seating::reconnect) {
            Some(next) => self.apply(next),
            None => {
                self.show_lobby(None);
                Ok(())
            }
        }
    }

    fn frame(&mut self, now: f64) -> Result<(), JsValue> {
        // 1. The lobby's buttons, the rooms API's answers, the list's refresh.
        for ev in self.lobby.events() {
            self.on_lobby_event(ev)?;
        }
        self.menu_events();
        for answer in self.http.drain() {
            match answer.purpose {
                Purpose::List if self.list_call == Some(answer.id) => {
                    self.list_call = None;
                    let ok = answer.reply.as_ref().filter(|(status, _)| *status == 200);
                    self.lobby.show_rooms(ok.map(|(_, body)| body.as_str()))?;
                }
                Purpose::Seat if self.stage == Stage::Asking(answer.id) => {
                    let fields = answer
                        .reply
                        .as_ref()
                        .map(|(_, body)| parse_answer(body))
                        .unwrap_or_default();
                    let status = answer.reply.map(|(status, _)| status);
                    if let Some(next) = self.seating.as_mut().map(|s| s.on_answer(status, &fields))
                    {
                        self.apply(next)?;
                    }
                }
                // An answer nobody waits for any more (the player left meanwhile).
                _ => {}
            }
        }
        if self.stage == Stage::Lobby && self.list_call.is_none() && now >= self.next_list_ms {
            let call = ApiCall {
                method: "GET",
                path: "/rooms".to_owned(),
                body: None,
            };
            self.list_call = Some(self.http.send(&self.window, &call, Purpose::List));
            self.next_list_ms = now + LIST_EVERY_MS;
        }
        // 2. Socket events.
        let events: Vec<SocketEvent> = self.inbox.borrow_mut().drain(..).collect();
        for ev in events {
            let Some(client) = self.client.as_mut() else {
                break;
            };
            match ev {
                SocketEvent::Open => {
                    let join = client.on_open();
                    if let Some(s) = &self.socket {
                        s.send(&join);
                    }
                }
                SocketEvent::Message(bytes) => {
                    if let Err(e) = client.on_message(&bytes, now) {
                        web_sys::console::warn_1(&format!("dropping session: {e}").into());
                        client.on_close(1007, &e);
                        if let Some(s) = &self.socket {
                            s.close();
                        }
                    }
                }
                SocketEvent::Close(code, reason) => client.on_close(code, &reason),
            }
        }
        self.watch_events(now);
        // 3. Connection state, and reconnection with backoff.
        match self.stage.clone() {
            Stage::Lobby => {}
            Stage::Asking(_) => {
                let coming_back = self.client.is_some();
                self.set_status(Some(
                    if coming_back {
                        "Reconnecting…"
                    } else {
                        "Joining…"
                    }
                    .into(),
                ));
            }
            Stage::Waiting(why) => {
                if self.backoff_due(now, &why) {
                    self.retry()?;
                }
            }
            Stage::Session => self.session_state(now)?,
        }
        // 4. Size the canvas to the window.
        let dpr = self.window.device_pixel_ratio();
        let css_w = self.window.inner_width()?.as_f64().unwrap_or(800.0);
        let css_h = self.window.inner_height()?.as_f64().unwrap_or(600.0);
        let (pw, ph) = ((css_w * dpr) as u32, (css_h * dpr) as u32);
        if self.canvas.width() != pw || self.canvas.height() != ph {
            self.canvas.set_width(pw);
            self.canvas.set_height(ph);
        }
        self.ctx.set_transform(dpr, 0.0, 0.0, dpr, 0.0, 0.0)?;
        // 5. Inputs out, then draw.
        let frame_s = self
            .last_frame_ms
            .map_or(0.0, |t| ((now - t) / 1000.0) as f32);
        self.last_frame_ms = Some(now);
        let in_game = self.stage == Stage::Session && self.client.is_some();
        self.menu.show_toolbar(in_game);
        let center = self.player_screen.unwrap_or((css_w / 2.0, css_h / 2.0));
        let (controls, scores, debug, gestured) = {
            let mut st = self.input.state.borrow_mut();
            let escape = std::mem::take(&mut st.escape);
            if escape && in_game {
                self.menu.show_panel(!self.menu.panel_open());
            }
            let mut c = st.controls(center, now);
            if self.menu.panel_open() {
                c = tickwire_shared::Controls {
                    aim: c.aim,
                    ..Default::default()
                };
            }
            (c, st.scores(), st.debug, st.gestured)
        };
        let Some(client) = self.client.as_mut() else {
            self.ctx.set_fill_style_str("#0d1117");
            self.ctx.fill_rect(0.0, 0.0, css_w, css_h);
            self.set_title(None);
            return Ok(());
        };
        for msg in client.update(now, &controls) {
            if let Some(s) = &self.socket {
                s.send(&msg);
            }
        }
        let gain = self.settings.gain();
        for sound in client.take_sounds() {
            self.audio.play(sound, gain, gestured);
        }
        let mut model = client.render(now);
        let target = model
            .players
            .iter()
            .find(|p| p.me)
            .map(|p| p.pos)
            .or_else(|| client.watching().map(|_| model.camera));
        if let Some(target) = target {
            model.camera = self.camera.follow(target, frame_s);
            self.player_screen = Some((
                css_w / 2.0 + f64::from(target.x - model.camera.x),
                css_h / 2.0 + f64::from(target.y - model.camera.y),
            ));
        }
        self.last_view = Some((model.camera, css_w, css_h));
        let room = client.welcome().map(|w| w.room.clone());
        let fps =
            (self.settings.show_fps && client.frame_ms() > 0.0).then(|| 1000.0 / client.frame_ms());
        let touch = self.input.state.borrow().touch.clone();
        render::draw(
            &self.ctx,
            css_w,
            css_h,
            client.map(),
            &model,
            &render::Hud {
                scores,
                debug,
                fps,
                touch: &touch,
            },
        )?;
        self.set_title(room.as_deref());
        Ok(())
    }

    /// The page's title: the room while in one.
    fn set_title(&mut self, room: Option<&str>) {
        let title = room.map_or_else(
            || "Tickwire Arena".to_owned(),
            |r| format!("{r} · Tickwire Arena"),
        );
        if title != self.title {
            if let Some(doc) = self.window.document() {
                doc.set_title(&title);
            }
            self.title = title;
        }
    }

    /// The toolbar's and the settings panel's buttons.
    fn menu_events(&mut self) {
        for ev in self.menu.events() {
            match ev {
                MenuEvent::ToggleMute => {
                    self.settings.muted = !self.settings.muted;
                    self.input.state.borrow_mut().gestured = true;
                }
                MenuEvent::Open => self.menu.show_panel(true),
                MenuEvent::Close => self.menu.show_panel(false),
                MenuEvent::Changed => {
                    self.settings = self.menu.read(&self.settings);
                    if !self.settings.name.is_empty() {
                        self.name.clone_from(&self.settings.name);
                        self.lobby.set_name(&self.settings.name);
                    }
                    self.input.state.borrow_mut().touch.style = self.settings.aim;
                }
            }
            self.menu.save(&self.settings);
            self.menu.fill(&self.settings);
        }
    }

    /// A session's state: the room bar once welcomed (and the resume ticket kept), the
    /// status line, after a drop what [`Seating::on_drop`] decides: resume the same player
    /// (the canvas stays, a "Reconnecting…" banner), a new seat, the fallback of a refused
    /// resume, or the lobby (another tab took the player over, a seat refused again).
    fn session_state(&mut self, now: f64) -> Result<(), JsValue> {
        let Some(client) = self.client.as_ref() else {
            return Ok(());
        };
        match client.phase().clone() {
            Phase::Connected => {
                if self.reconnect.connected_since.is_none() {
                    self.reconnect.plan = None;
                    if let (Some(w), Some(seating)) = (client.welcome(), self.seating.as_mut()) {
                        seating.on_welcome(&w.room, &w.resume);
                        let invite = seating.page().invite_url(&w.room);
                        self.lobby.show_room_bar(&w.room, &w.mode, &invite);
                        self.lobby.clear_invite();
                    }
                    self.keep_ticket();
                }
                let since = *self.reconnect.connected_since.get_or_insert(now);
                if now - since > 5000.0 {
                    self.reconnect.attempt = 0;
                }
                self.set_status(None);
            }
            Phase::Connecting => self.set_status(Some("Connecting…".into())),
            Phase::Resuming => self.set_status(Some("Reconnecting…".into())),
            Phase::Refused(msg) => {
                self.socket = None;
                self.set_status(Some(msg));
            }
            Phase::Lost(why) => {
                let plan = match self.reconnect.plan.clone() {
                    Some(plan) => plan,
                    None => {
                        let reason = client.disconnect_reason();
                        let plan = self
                            .seating
                            .as_mut()
                            .map_or(AfterDrop::Reseat, |s| s.on_drop(reason));
                        self.keep_ticket();
                        self.reconnect.plan = Some(plan.clone());
                        plan
                    }
                };
                match plan {
                    AfterDrop::Resume { url, token } => {
                        self.set_status(Some("Reconnecting…".into()));
                        if self.backoff_left(now).is_none() {
                            self.reconnect.plan = None;
                            self.open_resume(&url, token)?;
                        }
                    }
                    AfterDrop::Reseat => {
                        if self.backoff_due(now, &why) {
                            self.reconnect.plan = None;
                            self.retry()?;
                        }
                    }
                    AfterDrop::Now(next) => {
                        self.reconnect.plan = None;
                        self.apply(next)?;
                    }
                    AfterDrop::TakenOver(message) => self.show_lobby(Some(&message)),
                }
            }
        }
        Ok(())
    }

    fn set_status(&mut self, text: Option<String>) {
        let text = text.unwrap_or_default();
        if text == self.status {
            return;
        }
        if let Some(doc) = self.window.document() {
            if let Some(el) = doc.get_element_by_id("status") {
                el.set_text_content(Some(&text));
            }
        }
        self.status = text;
    }
}
