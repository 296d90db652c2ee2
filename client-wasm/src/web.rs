//! The browser shell: boots the page, runs the frame loop, owns the socket and the input
//! listeners, reconnects with backoff, and exposes `window.tickwire.state()`.

mod input;
mod render;
mod socket;

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, HtmlInputElement, Window};

use crate::game::{GameClient, Phase};
use input::Input;
use socket::{Inbox, Socket, SocketEvent};

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

struct Reconnect {
    attempt: u32,
    at_ms: Option<f64>,
    connected_since: Option<f64>,
}

struct App {
    window: Window,
    canvas: HtmlCanvasElement,
    ctx: CanvasRenderingContext2d,
    name: Option<String>,
    client: Option<GameClient>,
    socket: Option<Socket>,
    inbox: Inbox,
    input: Input,
    reconnect: Reconnect,
    status: String,
    raf: Option<Closure<dyn FnMut(f64)>>,
    on_submit: Option<Closure<dyn FnMut(web_sys::Event)>>,
    state_fn: Option<Closure<dyn Fn() -> JsValue>>,
}

fn element<T: JsCast>(doc: &web_sys::Document, id: &str) -> Result<T, JsValue> {
    doc.get_element_by_id(id)
        .ok_or_else(|| JsValue::from_str(&format!("#{id} missing from the page")))?
        .dyn_into::<T>()
        .map_err(|_| JsValue::from_str(&format!("#{id} has the wrong element type")))
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
        let input = Input::attach(&window)?;
        Ok(Rc::new(RefCell::new(App {
            window,
            canvas,
            ctx,
            name: None,
            client: None,
            socket: None,
            inbox: Inbox::default(),
            input,
            reconnect: Reconnect {
                attempt: 0,
                at_ms: None,
                connected_since: None,
            },
            status: String::new(),
            raf: None,
            on_submit: None,
            state_fn: None,
        })))
    }

    fn boot(app: Rc<RefCell<App>>) -> Result<(), JsValue> {
        let (window, doc) = {
            let a = app.borrow();
            (a.window.clone(), a.window.document().ok_or("no document")?)
        };
        // window.tickwire.state(): what the player sees, for page scripts and tests.
        let weak = Rc::downgrade(&app);
        let state_fn = Closure::<dyn Fn() -> JsValue>::new(move || {
            let json = weak.upgrade().map_or_else(
                || "{}".to_owned(),
                |a| {
                    a.borrow().client.as_ref().map_or_else(
                        || "{\"connection\":\"idle\"}".to_owned(),
                        GameClient::state_json,
                    )
                },
            );
            js_sys::JSON::parse(&json).unwrap_or(JsValue::NULL)
        });
        let api = js_sys::Object::new();
        js_sys::Reflect::set(&api, &"state".into(), state_fn.as_ref())?;
        js_sys::Reflect::set(&window, &"tickwire".into(), &api)?;
        app.borrow_mut().state_fn = Some(state_fn);

        // A name in the URL joins at once; otherwise the start form asks for one.
        let search = window.location().search().unwrap_or_default();
        let params = web_sys::UrlSearchParams::new_with_str(&search)?;
        if let Some(name) = params.get("name").filter(|n| !n.trim().is_empty()) {
            app.borrow_mut().begin(name.trim().to_owned())?;
        } else {
            let form: web_sys::HtmlFormElement = element(&doc, "join-form")?;
            let weak = Rc::downgrade(&app);
            let doc2 = doc.clone();
            let on_submit = Closure::<dyn FnMut(web_sys::Event)>::new(move |e: web_sys::Event| {
                e.prevent_default();
                let name = element::<HtmlInputElement>(&doc2, "name")
                    .map(|i| i.value())
                    .unwrap_or_default();
                let name = if name.trim().is_empty() {
                    "player".to_owned()
                } else {
                    name.trim().to_owned()
                };
                if let Some(a) = weak.upgrade() {
                    if let Err(err) = a.borrow_mut().begin(name) {
                        web_sys::console::error_1(&err);
                    }
                }
            });
            form.add_event_listener_with_callback("submit", on_submit.as_ref().unchecked_ref())?;
            app.borrow_mut().on_submit = Some(on_submit);
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

    fn begin(&mut self, name: String) -> Result<(), JsValue> {
        let doc = self.window.document().ok_or("no document")?;
        if let Some(start) = doc.get_element_by_id("start") {
            start.set_attribute("hidden", "")?;
        }
        self.name = Some(name);
        self.connect()
    }

    fn connect(&mut self) -> Result<(), JsValue> {
        let Some(name) = self.name.clone() else {
            return Ok(());
        };
        let loc = self.window.location();
        let scheme = if loc.protocol()? == "https:" {
            "wss"
        } else {
            "ws"
        };
        let url = format!("{scheme}://{}/ws", loc.host()?);
        self.socket = None;
        self.inbox.borrow_mut().clear();
        self.client = Some(GameClient::new(&name));
        self.socket = Some(Socket::open(&url, &self.inbox)?);
        Ok(())
    }

    fn frame(&mut self, now: f64) -> Result<(), JsValue> {
        // 1. Socket events.
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
        // 2. Connection state and reconnection with backoff.
        let phase = self.client.as_ref().map(|c| c.phase().clone());
        match &phase {
            Some(Phase::Connected) => {
                let since = *self.reconnect.connected_since.get_or_insert(now);
                if now - since > 5000.0 {
                    self.reconnect.attempt = 0;
                }
                self.set_status(None);
            }
            Some(Phase::Connecting) => self.set_status(Some("Connecting…".into())),
            Some(Phase::Refused(msg)) => {
                let msg = msg.clone();
                self.socket = None;
                self.set_status(Some(msg));
            }
            Some(Phase::Lost(why)) => {
                self.reconnect.connected_since = None;
                let at = *self.reconnect.at_ms.get_or_insert_with(|| {
                    let delay = 500.0 * f64::from(1u32 << self.reconnect.attempt.min(4));
                    now + delay
                });
                let why = why.clone();
                self.set_status(Some(format!(
                    "Connection lost ({why}). Reconnecting in {:.0} s…",
                    ((at - now) / 1000.0).max(0.0).ceil()
                )));
                if now >= at {
                    self.reconnect.attempt += 1;
                    self.reconnect.at_ms = None;
                    self.connect()?;
                }
            }
            None => {}
        }
        // 3. Size the canvas to the window.
        let dpr = self.window.device_pixel_ratio();
        let css_w = self.window.inner_width()?.as_f64().unwrap_or(800.0);
        let css_h = self.window.inner_height()?.as_f64().unwrap_or(600.0);
        let (pw, ph) = ((css_w * dpr) as u32, (css_h * dpr) as u32);
        if self.canvas.width() != pw || self.canvas.height() != ph {
            self.canvas.set_width(pw);
            self.canvas.set_height(ph);
        }
        self.ctx.set_transform(dpr, 0.0, 0.0, dpr, 0.0, 0.0)?;
        // 4. Inputs out, then draw.
        let (controls, scores, debug) = {
            let st = self.input.state.borrow();
            (
                st.controls((css_w / 2.0, css_h / 2.0)),
                st.scores(),
                st.debug,
            )
        };
        let Some(client) = self.client.as_mut() else {
            return Ok(());
        };
        for msg in client.update(now, &controls) {
            if let Some(s) = &self.socket {
                s.send(&msg);
            }
        }
        let model = client.render(now);
        let banner = (!self.status.is_empty()).then_some(self.status.as_str());
        render::draw(
            &self.ctx,
            css_w,
            css_h,
            client.map(),
            &model,
            &render::Hud {
                scores,
                debug,
                banner,
            },
        )
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
