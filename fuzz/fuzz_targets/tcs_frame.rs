//! TCS text frames: an agent frame's signed header block (`SignedFrame::parse`, then its
//! headers), and the JSON envelope (`TcsFrame::decode`) either behind a header block or bare.
//! A known message that decodes must encode.
#![no_main]

use ecs_protocol::tcs::{SignedFrame, TcsFrame};
use libfuzzer_sys::fuzz_target;

fn decode(body: &str) {
    if let Ok(frame) = TcsFrame::decode(body) {
        let _ = frame.type_name();
        if let TcsFrame::Known(message) = &frame {
            let _ = message.type_name();
            let _ = message.ack();
            let encoded = message.encode().expect("a decoded TCS message encodes");
            let _ = TcsFrame::decode(&encoded);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match SignedFrame::parse(text) {
        Ok(signed) => {
            let _ = signed.header("Authorization");
            let _ = signed.header("X-Amz-Date");
            let encoded = signed.encode();
            let _ = SignedFrame::parse(&encoded);
            decode(signed.body);
        }
        Err(e) => {
            let _ = e.to_string();
            decode(text);
        }
    }
});
