//! Calls to the rooms API with `fetch`: like the socket, the promise callbacks only queue
//! the answer; the frame loop handles it.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{RequestInit, Response, Window};

use crate::lobby::{ApiAnswer, ApiCall};

/// What a call is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// The lobby's list of public rooms.
    List,
    /// A seat (matchmake, create, seat in a room).
    Seat,
}

/// A finished call: its id, and its status and body (`None`: no answer at all).
pub struct Answer {
    pub id: u32,
    pub purpose: Purpose,
    pub reply: Option<(u16, String)>,
}

type Inbox = Rc<RefCell<VecDeque<Answer>>>;

/// A call in flight and its callbacks. Kept until it settles: a callback dropped earlier
/// would throw in the page when the promise settles.
struct InFlight {
    id: u32,
    _on_response: Closure<dyn FnMut(JsValue)>,
    _on_text: Rc<Closure<dyn FnMut(JsValue)>>,
    _on_error: Rc<Closure<dyn FnMut(JsValue)>>,
}

/// The calls of the page.
#[derive(Default)]
pub struct Http {
    inbox: Inbox,
    in_flight: Vec<InFlight>,
    next_id: u32,
}

impl Http {
    /// Starts `call`; its answer comes out of [`Http::drain`] with the returned id.
    pub fn send(&mut self, window: &Window, call: &ApiCall, purpose: Purpose) -> u32 {
        self.next_id += 1;
        let id = self.next_id;
        let status = Rc::new(Cell::new(0u16));
        let q = self.inbox.clone();
        let st = status.clone();
        let on_text = Rc::new(Closure::<dyn FnMut(JsValue)>::new(move |text: JsValue| {
            q.borrow_mut().push_back(Answer {
                id,
                purpose,
                reply: Some((st.get(), text.as_string().unwrap_or_default())),
            });
        }));
        let q = self.inbox.clone();
        let on_error = Rc::new(Closure::<dyn FnMut(JsValue)>::new(move |_e: JsValue| {
            q.borrow_mut().push_back(Answer {
                id,
                purpose,
                reply: None,
            });
        }));
        let (text_cb, error_cb) = (on_text.clone(), on_error.clone());
        let q = self.inbox.clone();
        let on_response = Closure::<dyn FnMut(JsValue)>::new(move |r: JsValue| {
            let text = r.dyn_into::<Response>().ok().and_then(|r| {
                status.set(r.status());
                r.text().ok()
            });
            match text {
                Some(p) => drop(p.then2(&text_cb, &error_cb)),
                None => q.borrow_mut().push_back(Answer {
                    id,
                    purpose,
                    reply: None,
                }),
            }
        });
        let init = RequestInit::new();
        init.set_method(call.method);
        if let Some(body) = &call.body {
            init.set_body(&JsValue::from_str(body));
        }
        let _ = window
            .fetch_with_str_and_init(&call.path, &init)
            .then2(&on_response, &on_error);
        self.in_flight.push(InFlight {
            id,
            _on_response: on_response,
            _on_text: on_text,
            _on_error: on_error,
        });
        id
    }

    /// The calls that finished since the last drain (their callbacks are released).
    pub fn drain(&mut self) -> Vec<Answer> {
        let done: Vec<Answer> = self.inbox.borrow_mut().drain(..).collect();
        self.in_flight
            .retain(|f| !done.iter().any(|d| d.id == f.id));
        done
    }
}

/// The fields of a rooms API answer the lobby reads.
pub fn parse_answer(body: &str) -> ApiAnswer {
    let v = js_sys::JSON::parse(body).unwrap_or(JsValue::NULL);
    ApiAnswer {
        room: str_field(&v, "room"),
        url: str_field(&v, "url"),
        seat: str_field(&v, "seat"),
        reason_code: str_field(&v, "reason_code"),
        reason: str_field(&v, "reason"),
    }
}

/// `v[key]` if it is a string.
pub fn str_field(v: &JsValue, key: &str) -> Option<String> {
    if !v.is_object() {
        return None;
    }
    js_sys::Reflect::get(v, &key.into())
        .ok()
        .and_then(|x| x.as_string())
}

/// `v[key]` if it is a number.
pub fn num_field(v: &JsValue, key: &str) -> Option<f64> {
    if !v.is_object() {
        return None;
    }
    js_sys::Reflect::get(v, &key.into())
        .ok()
        .and_then(|x| x.as_f64())
}
