//! Arbitrary bytes into the server's only decoder of client bytes: it must return, never
//! panic or abort, and what it accepts must survive validation and re-encode to a message
//! that decodes the same way.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickwire_shared::protocol::{codec, ClientMsg};
use tickwire_shared::PlayerInput;

fuzz_target!(|data: &[u8]| {
    let _ = codec::peek_join_version(data);
    let Ok(msg) = codec::decode_client(data) else {
        return;
    };
    if let ClientMsg::Input(input) = &msg {
        // Validation refuses non-finite numbers and clamps the rest: never a panic.
        if let Ok(p) = PlayerInput::from_wire(input) {
            assert!(p.move_dir.is_finite() && p.move_dir.length() <= 1.0 + 1e-6);
        }
    }
    let again = codec::encode_client(&msg);
    let back = codec::decode_client(&again).expect("a re-encoded message decodes");
    assert_eq!(codec::encode_client(&back), again, "encoding is stable");
});
